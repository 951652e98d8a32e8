"""A suspended run resumes from a new process with nothing in memory.

Three separate ``manage.py`` processes share one database file: the first
migrates, the second starts the demo approval workflow (it suspends and the
process exits), the third resumes it by run id. Only the database connects them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(database: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_suspended_run_resumes_in_another_process(tmp_path: Path) -> None:
    database = tmp_path / "runs.sqlite3"
    manage(database, "migrate", "--verbosity", "0")
    expense = {"employee": "ann", "amount": 250, "reason": "train"}
    started = manage(database, "run_workflow", "expense-approval", "--input", json.dumps(expense))
    assert "manager-approval: suspended" in started
    assert "status: suspended" in started
    run_id = re.search(r"^run (\S+) of expense-approval$", started, re.MULTILINE)
    assert run_id is not None

    decision = {"approved": True, "reviewer": "bob"}
    resumed = manage(
        database,
        "run_workflow",
        "expense-approval",
        "--resume",
        run_id.group(1),
        "--step",
        "manager-approval",
        "--data",
        json.dumps(decision),
    )
    assert "check-policy" not in resumed  # steps before the suspension do not run again
    assert "record-decision: success" in resumed
    assert "status: success" in resumed
    assert '"approved": true' in resumed


def test_bad_resume_data_is_refused_and_the_run_stays_resumable(tmp_path: Path) -> None:
    database = tmp_path / "runs.sqlite3"
    manage(database, "migrate", "--verbosity", "0")
    expense = {"employee": "ann", "amount": 250, "reason": "train"}
    started = manage(database, "run_workflow", "expense-approval", "--input", json.dumps(expense))
    run_id = re.search(r"^run (\S+) of", started, re.MULTILINE)
    assert run_id is not None
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    refused = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "run_workflow",
            "expense-approval",
            "--resume",
            run_id.group(1),
            "--data",
            '{"approved": "perhaps"}',
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0
    assert "Invalid resume data" in refused.stderr
    resumed = manage(
        database,
        "run_workflow",
        "expense-approval",
        "--resume",
        run_id.group(1),
        "--data",
        json.dumps({"approved": False, "reviewer": "bob"}),
    )
    assert "status: success" in resumed
