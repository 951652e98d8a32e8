"""``manage.py workflows_worker`` logs each line with its time and the run and step it is about.

A worker process (with the project's ``LOGGING``) runs a step that logs; its
stderr must name the run and the step on that line, after a timestamp.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import ROOT, Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    redis_url = os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    cluster = Cluster(tmp_path, redis_url=redis_url, modules="tests.deploy.logging_workflows")
    yield cluster
    cluster.close()


def test_worker_lines_carry_a_timestamp_the_run_and_the_step(cluster: Cluster, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "workflows_worker", "--grace", "1"],
            cwd=ROOT,
            env=cluster.env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
        cluster.workers.append(worker)
        cluster.wait_for(lambda: worker.pid in cluster.worker_pids())

        run_id = cluster.enqueue("deploy-logging", {"amount": 42})

        assert cluster.wait_settled(run_id) == "success"
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    lines = log.read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    step_line = rf"^{stamp} WARNING tests\.deploy\.logging_workflows run={run_id} step=charge charging 42$"
    assert any(re.match(step_line, line) for line in lines), lines
    started = rf"^{stamp} INFO workflows_app\.worker run=- step=- Workflow worker \S+ started"
    assert any(re.match(started, line) for line in lines), lines
