"""Several sweepers, as separate OS processes, fire the same ticks at once: one run per tick.

A schedule every minute was made 30 minutes ago with ``catch_up="all"``: 40
ticks are due. Four processes are released together and each tries every tick.
The database must end with 30 tick rows, 30 runs, and each tick pointing at a
run that exists, on SQLite (one file, several processes) and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import ROOT, Cluster

MODULES = "tests.e2e.schedule_race"
SWEEPERS = 4
TICKS = 30


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(tmp_path, modules=MODULES)
    yield started
    started.close()


@pytest.mark.timeout(420)
def test_racing_sweepers_start_one_run_per_tick(cluster: Cluster, tmp_path: Path) -> None:
    cluster.manage(
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone; "
        "from workflows_app.schedules import create_schedule; "
        "create_schedule(name='race', workflow_id='race-digest', cron='* * * * *', catch_up='all', "
        f"now=timezone.now().replace(second=0, microsecond=0) - timedelta(minutes={TICKS}, seconds=1))",
    )
    go = tmp_path / "go"
    sweepers = [
        subprocess.Popen(
            [sys.executable, "-m", MODULES, str(go)],
            cwd=ROOT,
            env=cluster.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(SWEEPERS)
    ]
    deadline = time.monotonic() + 300  # starting Python and Django takes a while on a loaded machine
    while len(list(tmp_path.glob("go.ready.*"))) < SWEEPERS:
        assert time.monotonic() < deadline, "the sweepers did not start"
        assert all(sweeper.poll() is None for sweeper in sweepers), "a sweeper died while starting"
        time.sleep(0.05)
    go.touch()
    started: list[list[str]] = []
    for sweeper in sweepers:
        out, err = sweeper.communicate(timeout=300)
        assert sweeper.returncode == 0, err
        started.append(json.loads(out.strip().splitlines()[-1]))

    ticks = cluster.query("SELECT tick, run_id FROM workflows_app_workflowscheduletick")
    runs = {row[0] for row in cluster.query("SELECT run_id FROM workflows_app_workflowrun")}
    fired = [run_id for runs_of_one in started for run_id in runs_of_one]
    print(f"runs started by each sweeper: {[len(s) for s in started]}")  # noqa: T201 - the figure to report
    assert len(ticks) >= TICKS
    assert Counter(tick for tick, _ in ticks).most_common(1)[0][1] == 1  # one row per tick
    assert len(runs) == len(ticks)  # one run per tick, none without its tick row
    assert {run_id for _, run_id in ticks} == runs
    assert sorted(fired) == sorted(runs)  # every run was started by exactly one sweeper
