"""Limits hold with several workers racing, as separate OS processes (issue 14, item 4).

Three ``workflows_worker`` processes (four slots each) claim the same queues.
Every step logs its start and end to one file in the order they happen
(``limit_workflows.py``); the test reads the log and the database. No timing is
asserted: a rate's window is an hour, and the test moves its claims out of the
window itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster

MODULES = "tests.e2e.limit_workflows"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path, modules=MODULES)
    for _ in range(3):
        started.start_worker()
    yield started
    started.close()


@pytest.fixture
def single_slot_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Three workers of one slot each: two executions inside at once are in two processes."""
    started = Cluster(tmp_path, modules=MODULES)
    for _ in range(3):
        started.start_worker(WORKFLOWS_WORKER_CONCURRENCY="1")
    yield started
    started.close()


def enqueue_all(cluster: Cluster, workflow_id: str, inputs: list[Any]) -> list[str]:
    """Start the runs one after the other from one process; their ids, in that order."""
    code = (
        "import json; from asgiref.sync import async_to_sync; from workflows_app.core import runtime\n"
        f"wf = runtime.get_workflow({workflow_id!r})\n"
        f"inputs = json.loads({json.dumps(json.dumps(inputs))})\n"
        "print(json.dumps([async_to_sync(wf.create_run(engine='evented').aenqueue)(i) for i in inputs]))"
    )
    done = cluster.manage("shell", "-c", code)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def log_lines(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "limits.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def most_inside(lines: list[list[str]], tag: str) -> int:
    inside = peak = 0
    for mark, seen, *_ in lines:
        if seen == tag:
            inside += 1 if mark == "start" else -1
            peak = max(peak, inside)
    return peak


@pytest.mark.timeout(600)
def test_racing_workers_never_exceed_a_step_limit(single_slot_cluster: Cluster, tmp_path: Path) -> None:
    # Each execution waits inside for a second one (limit_workflows._narrow), so all three
    # workers keep asking for the limit's two places while two are taken.
    cluster = single_slot_cluster
    runs = enqueue_all(cluster, "limit-step-race", [list(range(6))] * 4)
    for run_id in runs:
        assert cluster.wait_settled(run_id, timeout=240) == "success"
    lines = log_lines(tmp_path)
    assert sum(1 for line in lines if line[0] == "start") == 24
    assert most_inside(lines, "narrow") == 2  # 3 workers wanted them; the limit let 2 in at once
    assert len({line[3] for line in lines}) > 1  # the executions spread over several workers


@pytest.mark.timeout(600)
def test_racing_workers_admit_runs_of_a_key_one_at_a_time_first_in_first_out(
    cluster: Cluster, tmp_path: Path
) -> None:
    inputs = [{"customer": customer, "n": n} for n in range(5) for customer in ("a", "b")]
    runs = enqueue_all(cluster, "limit-run-race", inputs)
    for run_id in runs:
        assert cluster.wait_settled(run_id, timeout=240) == "success"
    lines = log_lines(tmp_path)
    for customer in ("a", "b"):
        mine = [line for line in lines if line[1].startswith(f"customer-{customer}-")]
        starts = [line[1] for line in mine if line[0] == "start"]
        assert starts == [f"customer-{customer}-{n}" for n in range(5)]  # first in, first out
        inside = peak = 0
        for line in mine:
            inside += 1 if line[0] == "start" else -1
            peak = max(peak, inside)
        assert peak == 1


@pytest.mark.timeout(600)
def test_racing_workers_never_exceed_a_rate(cluster: Cluster, tmp_path: Path) -> None:
    (run_id,) = enqueue_all(cluster, "limit-rate-race", [list(range(8))])

    def started() -> int:
        return sum(1 for line in log_lines(tmp_path) if line[:2] == ["start", "rated"])

    cluster.wait_for(lambda: started() == 3, timeout=240)
    (marker,) = enqueue_all(cluster, "limit-marker", [{}])
    assert cluster.wait_settled(marker, timeout=240) == "success"  # the workers claim, and still:
    assert started() == 3
    assert cluster.status(run_id) == "running"
    for expected in (6, 8):  # an hour passes, twice
        cluster.execute("UPDATE workflows_app_limitstart SET until = 0")
        cluster.wait_for(lambda expected=expected: started() == expected, timeout=240)  # type: ignore[misc]
    assert cluster.wait_settled(run_id, timeout=240) == "success"
    assert started() == 8
