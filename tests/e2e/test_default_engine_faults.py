"""The default engine when the process running a run dies (SIGKILL), with other processes on its database.

A default-engine run's steps run in the process that started it, on rows of that
process's private queue; its timers wait on the workflow's queue
``default/<workflow id>``, which every process serving the workflow on the
default engine claims from. So a sleep whose process died is fired by another
such process, with no ``run.arestart()``; a step whose process died waits for
``run.arestart()``, and a ``workflows_worker`` (evented engine) sharing the
database never takes it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster
from .test_faults import assert_clean_log


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path)
    yield started
    started.close()


def waiting_step(cluster: Cluster, run_id: str) -> dict[str, Any] | None:
    return next((p for _, kind, p in cluster.events(run_id) if kind == "workflow-step-waiting"), None)


def test_a_sleep_whose_process_died_is_fired_by_another_process_without_a_restart(cluster: Cluster) -> None:
    run_id, first = cluster.start_in_process("fault-long-sleep", {"n": 0})
    cluster.wait_for(lambda: waiting_step(cluster, run_id) is not None, timeout=180)
    cluster.kill(first)
    timers = cluster.query(
        "SELECT queue, status FROM workflows_app_workflowtask WHERE run_id = ? AND kind = 'timer'", run_id
    )
    assert timers == [("default/fault-long-sleep", "queued")]  # killed before its process fired it
    # Another process serving the workflows on the default engine, busy with a run of its own.
    _, other = cluster.start_in_process("fault-endless", {})
    assert cluster.wait_settled(run_id, timeout=180) == "success"
    assert other.poll() is None  # fired by that process's worker, which is still up
    assert cluster.result(run_id) == {"n": 2}
    waiting = waiting_step(cluster, run_id)
    assert waiting is not None
    slept = next(
        p
        for _, kind, p in cluster.events(run_id)
        if kind == "workflow-step-result" and p["id"] == waiting["id"]
    )
    assert slept["ended_at"] - waiting["started_at"] >= 5000  # not before it was due
    assert_clean_log(cluster, run_id, ["before", waiting["id"], "after"])


def test_a_step_whose_process_died_is_left_alone_by_a_workflows_worker(
    cluster: Cluster, tmp_path: Path
) -> None:
    """The finding of issue 10: sweepers re-ran default-engine steps. The row waits for a restart."""
    sweeper = cluster.start_worker()  # evented, sweeping every 0.2 s; leases last 1.5 s
    run_id, first = cluster.start_in_process("fault-endless", {})
    started = tmp_path / f"started-{run_id}"
    cluster.wait_for(started.exists, timeout=180)
    cluster.kill(first)
    query = (
        "SELECT kind, status, owner, lease, deliveries, lease_until, queue "
        "FROM workflows_app_workflowtask WHERE run_id = ?"
    )
    ((kind, status, owner, lease, deliveries, lease_until, queue),) = cluster.query(query, run_id)
    assert (kind, status, deliveries) == ("step", "running", 0)
    assert queue.startswith("default:")

    def swept_well_after_expiry() -> bool:
        """The workflows_worker is alive a second after the lease expired: five sweeps since."""
        (seen,) = cluster.query(
            "SELECT last_seen FROM workflows_app_workerheartbeat WHERE pid = ?", sweeper.pid
        )[0]
        return bool(epoch_ms(seen) > lease_until + 1000)

    cluster.wait_for(swept_well_after_expiry, timeout=60)
    assert cluster.query(query, run_id) == [(kind, "running", owner, lease, 0, lease_until, queue)]
    assert cluster.status(run_id) == "running"
    assert started.read_text().splitlines() == ["started"]  # the step ran once, in the dead process


def epoch_ms(value: datetime | str) -> int:
    """A heartbeat time as epoch milliseconds (SQLite gives the stored text, naive UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
