"""The behaviours hardest for a message-passing engine, with workers as separate OS processes.

Two ``manage.py workflows_worker`` processes run the steps; runs are started,
resumed and canceled from other short-lived processes; the test reads the
outcome from the database. These are the behaviours an earlier evented runtime
left out as "architectural limits": parallel suspends, every true branch, foreach
resume by index, nested suspend paths, and a cancel that reaches a step running
in another process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster

MODULES = "tests.e2e.spread_workflows"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path, modules=MODULES)
    started.start_worker()
    started.start_worker()
    yield started
    started.close()


def step_rows(cluster: Cluster, run_id: str) -> dict[str, str]:
    rows = cluster.query(
        "SELECT path, status FROM workflows_app_stepattempt WHERE run_id = ? AND foreach_index = -1", run_id
    )
    return {str(path): str(status) for path, status in rows}


def test_parallel_suspends_resume_one_by_one(cluster: Cluster) -> None:
    run_id = cluster.enqueue("spread-parallel-suspend", {})
    assert cluster.wait_settled(run_id) == "suspended"
    assert step_rows(cluster, run_id) == {"left": "suspended", "right": "suspended"}
    cluster.resume("spread-parallel-suspend", run_id, {"by": "ann"}, step="left")
    assert cluster.status(run_id) == "suspended"
    cluster.resume("spread-parallel-suspend", run_id, {"by": "bob"}, step="right")
    assert cluster.wait_settled(run_id) == "success"
    result = cluster.result(run_id)
    assert (result["left"]["by"], result["right"]["by"]) == ("ann", "bob")


def test_every_true_branch_runs(cluster: Cluster) -> None:
    run_id = cluster.enqueue("spread-branches", {"n": 5})
    assert cluster.wait_settled(run_id) == "success"
    assert sorted(cluster.result(run_id)) == ["big", "positive"]
    assert "negative" not in step_rows(cluster, run_id)


def test_foreach_items_resume_by_index(cluster: Cluster) -> None:
    run_id = cluster.enqueue("spread-foreach", [0, 1, 2, 3, 4])
    assert cluster.wait_settled(run_id) == "suspended"  # item 1 holds the first batch (0, 1, 2)
    cluster.resume("spread-foreach", run_id, {"ok": True}, step="item", for_each_index=1)
    assert cluster.wait_settled(run_id) == "suspended"  # item 3 holds the second batch (3, 4)
    cluster.resume("spread-foreach", run_id, {"ok": True}, step="item", for_each_index=3)
    assert cluster.wait_settled(run_id) == "success"
    assert cluster.result(run_id) == [
        {"item": 0, "resumed": False},
        {"item": 1, "resumed": True},
        {"item": 2, "resumed": False},
        {"item": 3, "resumed": True},
        {"item": 4, "resumed": False},
    ]


def test_a_nested_suspend_resumes_by_its_path(cluster: Cluster) -> None:
    run_id = cluster.enqueue("spread-nested", {})
    assert cluster.wait_settled(run_id) == "suspended"
    assert step_rows(cluster, run_id)["spread-inner.inner-approval"] == "suspended"
    cluster.resume("spread-nested", run_id, {"by": "cy"}, step=["spread-inner", "inner-approval"])
    assert cluster.wait_settled(run_id) == "success"
    assert step_rows(cluster, run_id)["after"] == "success"


def test_a_cancel_reaches_a_step_running_in_another_process(cluster: Cluster, tmp_path: Path) -> None:
    run_id = cluster.enqueue("spread-cancel", {})
    cluster.wait_for((tmp_path / f"started-{run_id}").exists)
    cluster.cancel("spread-cancel", run_id)
    assert cluster.wait_settled(run_id) == "canceled"
    cluster.wait_for((tmp_path / f"aborted-{run_id}").exists)
    worker_pid = int((tmp_path / f"aborted-{run_id}").read_text())
    assert worker_pid in cluster.worker_pids()
    assert "never" not in step_rows(cluster, run_id)
