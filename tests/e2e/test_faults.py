"""Fault tests of the evented engine, with workers as separate OS processes.

Each test runs its own database (a scratch PostgreSQL database on the PostgreSQL
leg, a SQLite file otherwise) and Redis, starts ``manage.py workflows_worker``
processes, and kills them with SIGKILL at the worst moments. After each fault the
run must complete with every step's result committed once and an event log with
no gap and no duplicate.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, free_port


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


def test_runs_complete_once_redis_is_back(tmp_path: Path) -> None:
    server = shutil.which("redis-server")
    assert server is not None, "redis-server is needed for this test"
    port = free_port()

    def start_redis() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    redis = start_redis()
    cluster = Cluster(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        cluster.start_worker()
        run_id = cluster.enqueue("fault-sleep", {"n": 0, "seconds": 1.0})
        cluster.wait_for(
            lambda: any(kind == "workflow-step-waiting" for _, kind, _ in cluster.events(run_id))
        )
        redis.kill()
        redis.wait(timeout=10)
        redis = start_redis()
        assert cluster.wait_settled(run_id, timeout=60) == "success"
        assert cluster.result(run_id) == {"n": 2}
    finally:
        cluster.close()
        redis.kill()
        redis.wait(timeout=10)


def test_a_run_started_with_no_worker_alive_is_a_clear_error(cluster: Cluster) -> None:
    done = cluster.manage(
        "run_workflow", "fault-chain", "--engine", "evented", "--input", '{"n": 0}', check=False
    )
    assert done.returncode != 0
    assert "No workflow worker is alive" in done.stderr
