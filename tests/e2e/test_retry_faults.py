"""A retry's wait is a row of the database: a worker killed (SIGKILL) during it loses nothing.

The first worker runs the failing attempt and commits the wait as a timer row;
it is killed while the row waits. A worker started afterwards fires the timer
when it is due and runs the next attempt, once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster
from .test_faults import assert_clean_log


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path, modules="tests.e2e.retry_workflows")
    yield started
    started.close()


def attempts_ran(tmp_path: Path, run_id: str) -> dict[int, int]:
    """How many times each attempt of the run's step ran, from the markers the step leaves."""
    return {
        int(marker.name.rpartition("-")[2]): len(marker.read_text().splitlines())
        for marker in tmp_path.glob(f"attempt-{run_id}-*")
    }


def test_a_worker_killed_during_a_backoff_loses_nothing(cluster: Cluster, tmp_path: Path) -> None:
    first = cluster.start_worker()
    run_id = cluster.enqueue("fault-retry", {"n": 0})
    cluster.wait_for(lambda: attempts_ran(tmp_path, run_id) == {0: 1})
    (tmp_path / f"go-{run_id}").touch()
    cluster.wait_for(lambda: any(kind == "workflow-step-retry" for _, kind, _ in cluster.events(run_id)))
    cluster.kill(first)
    assert attempts_ran(tmp_path, run_id) == {0: 1}  # killed while the retry waits
    waits = cluster.query(
        "SELECT kind, status FROM workflows_app_workflowtask WHERE run_id = ? AND kind = 'timer'", run_id
    )
    assert waits == [("timer", "queued")]  # the wait is a row, not a sleeping worker
    assert cluster.status(run_id) == "running"
    cluster.start_worker()
    assert cluster.wait_settled(run_id) == "success"
    assert cluster.result(run_id) == {"n": 1, "attempt": 1}
    assert attempts_ran(tmp_path, run_id) == {0: 1, 1: 1}
    (retry,) = [p for _, kind, p in cluster.events(run_id) if kind == "workflow-step-retry"]
    assert retry["error"]["name"] == "ConnectionError"
    rows = cluster.query(
        "SELECT attempt, status, started_at FROM workflows_app_stepattempt WHERE run_id = ? ORDER BY attempt",
        run_id,
    )
    assert [(attempt, status) for attempt, status, _ in rows] == [(0, "failed"), (1, "success")]
    assert rows[1][2] >= retry["retry_at"]  # the second attempt did not start before it was due
    assert_clean_log(cluster, run_id, ["flaky"])
