"""Fault tests of the evented engine, with workers as separate OS processes.

Each test runs its own database (a scratch PostgreSQL database on the PostgreSQL
leg, a SQLite file otherwise) and Redis, starts ``manage.py workflows_worker``
processes, and kills them with SIGKILL at the worst moments. After each fault the
run must complete with every step's result committed once and an event log with
no gap and no duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, Redis


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path)
    yield started
    started.close()


def assert_clean_log(cluster: Cluster, run_id: str, steps: list[str]) -> None:
    events = cluster.events(run_id)
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    results = [payload["id"] for _, kind, payload in events if kind == "workflow-step-result"]
    assert sorted(results) == sorted(steps)
    assert [kind for _, kind, _ in events].count("workflow-finish") == 1


@pytest.mark.parametrize("point", ["after-claim", "after-step"])
def test_a_worker_killed_around_a_step_loses_nothing(cluster: Cluster, tmp_path: Path, point: str) -> None:
    marker = tmp_path / "crashed"
    doomed = cluster.start_worker(WORKFLOWS_CRASH_AT=f"{point}:second", WORKFLOWS_CRASH_MARKER=str(marker))
    run_id = cluster.enqueue("fault-chain", {"n": 0})
    cluster.wait_for(marker.exists)
    assert doomed.wait(timeout=10) == -9
    cluster.start_worker()
    assert cluster.wait_settled(run_id) == "success"
    assert cluster.result(run_id) == {"n": 3}
    assert_clean_log(cluster, run_id, ["first", "second", "third"])


def test_a_worker_killed_in_the_middle_of_a_step_loses_nothing(cluster: Cluster) -> None:
    doomed = cluster.start_worker()
    run_id = cluster.enqueue("fault-dying", {"n": 0})
    assert doomed.wait(timeout=20) == -9
    cluster.start_worker()
    assert cluster.wait_settled(run_id) == "success"
    assert cluster.result(run_id) == {"n": 3}
    assert_clean_log(cluster, run_id, ["first", "dies", "third"])


def test_a_sleep_survives_a_worker_restart(cluster: Cluster) -> None:
    first = cluster.start_worker()
    run_id = cluster.enqueue("fault-sleep", {"n": 0, "seconds": 1.5})
    cluster.wait_for(lambda: any(kind == "workflow-step-waiting" for _, kind, _ in cluster.events(run_id)))
    cluster.kill(first)
    cluster.start_worker()
    assert cluster.wait_settled(run_id) == "success"
    assert cluster.result(run_id) == {"n": 2}
    waiting = next(p for _, kind, p in cluster.events(run_id) if kind == "workflow-step-waiting")
    slept = next(
        p
        for _, kind, p in cluster.events(run_id)
        if kind == "workflow-step-result" and p["id"] == waiting["id"]
    )
    assert slept["ended_at"] - waiting["started_at"] >= 1500
    assert_clean_log(cluster, run_id, ["before", waiting["id"], "after"])


@pytest.fixture
def redis() -> Iterator[Redis]:
    """A private Redis the test may stop and start again."""
    server = Redis()
    yield server
    server.stop()


@pytest.fixture
def outage_cluster(tmp_path: Path, redis: Redis) -> Iterator[Cluster]:
    """A cluster whose Redis is the test's private one."""
    started = Cluster(tmp_path, redis_url=redis.url)
    yield started
    started.close()


def test_runs_complete_once_redis_is_back(outage_cluster: Cluster, redis: Redis) -> None:
    cluster = outage_cluster
    cluster.start_worker()
    run_id = cluster.enqueue("fault-sleep", {"n": 0, "seconds": 1.0})
    cluster.wait_for(lambda: any(kind == "workflow-step-waiting" for _, kind, _ in cluster.events(run_id)))
    redis.stop()
    redis.start()
    assert cluster.wait_settled(run_id, timeout=60) == "success"
    assert cluster.result(run_id) == {"n": 2}


def test_a_run_is_canceled_while_redis_is_down(outage_cluster: Cluster, redis: Redis, tmp_path: Path) -> None:
    """docs/operations.md, "Redis is down": cancelling still commits, and the step sees its abort.

    With no broadcast to carry the cancel, the worker learns it when its lease
    renewal finds the task row canceled.
    """
    cluster = outage_cluster
    cluster.start_worker()
    run_id = cluster.enqueue("fault-endless", {})
    cluster.wait_for((tmp_path / f"started-{run_id}").exists)
    redis.stop()
    cluster.cancel("fault-endless", run_id)  # from another process, which cannot reach Redis either
    assert cluster.status(run_id) == "canceled"  # committed by the cancel itself
    cluster.wait_for((tmp_path / f"aborted-{run_id}").exists)
    cluster.wait_for(
        lambda: not cluster.query("SELECT 1 FROM workflows_app_workflowtask WHERE run_id = ?", run_id)
    )
    assert cluster.status(run_id) == "canceled"
    kinds = [kind for _, kind, _ in cluster.events(run_id)]
    assert "workflow-step-result" not in kinds  # what the step returned after its abort is not kept
    assert kinds.count("workflow-canceled") == 1


def test_a_run_is_resumed_while_redis_is_down(outage_cluster: Cluster, redis: Redis) -> None:
    """docs/operations.md, "Redis is down": resuming still commits, and the run goes on.

    The resume's doorbell is lost with Redis; the worker finds the step's row at
    its next poll of the database, and the resuming process learns the outcome
    by reading the run.
    """
    cluster = outage_cluster
    cluster.start_worker()
    run_id = cluster.enqueue("fault-ask", {"n": 0})
    cluster.wait_for(lambda: cluster.status(run_id) == "suspended")
    redis.stop()
    cluster.resume("fault-ask", run_id, {"by": "ops"})  # returns once the run has settled
    assert cluster.status(run_id) == "success"
    assert cluster.result(run_id) == {"n": 2, "by": "ops"}
    assert_clean_log(cluster, run_id, ["ask", "after"])


def test_a_run_started_with_no_worker_alive_is_a_clear_error(cluster: Cluster) -> None:
    done = cluster.manage(
        "run_workflow", "fault-chain", "--engine", "evented", "--input", '{"n": 0}', check=False
    )
    assert done.returncode != 0
    assert "No workflow worker is alive" in done.stderr
