"""Processes for the fault tests: a scratch database, Redis, workers, and runs.

Everything a fault test runs happens in child processes (``manage.py``), which
share only the database and Redis, as they would on separate machines. The test
reads the outcome straight from the database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Redis:
    """A private redis-server the test may restart and stop (never the shared one)."""

    def __init__(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "redis-server is needed for this test"
        self.server = server
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


def _run_method_code(
    workflow_id: str, run_id: str, engine: str, method: str, args: list[Any], options: dict[str, Any]
) -> str:
    """Python for ``python -c``: ``Run.<method>(*args, **options)`` of the run, as another process would."""
    return (
        "import django, json, sys; django.setup()\n"
        "from workflows_app.core import runtime\n"
        "from asgiref.sync import async_to_sync\n"
        f"run = runtime.get_workflow({workflow_id!r}).create_run(run_id={run_id!r}, engine={engine!r})\n"
        f"args, options = json.loads({json.dumps(json.dumps([args, options]))})\n"
        f"async_to_sync(run.{method})(*args, **options)\n"
    )


class Cluster:
    """One scratch database, one Redis, any number of worker processes."""

    def __init__(
        self, tmp_path: Path, *, redis_url: str | None = None, modules: str = "tests.e2e.fault_workflows"
    ) -> None:
        self.tmp = tmp_path
        self.modules = modules
        # The SQLite leg has no REDIS_URL (its test process uses the in-memory layer); its
        # clusters take TEST_REDIS_URL (dev.py gives each leg its own db, so that legs running
        # side by side never share one).
        self.redis_url = (
            redis_url or os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
        )
        self.workers: list[subprocess.Popen[str]] = []
        self.postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
        if self.postgres:
            self.db_name = f"wf_faults_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.db_name}"')
            self.database_url = f"postgres://postgres@127.0.0.1:5432/{self.db_name}"
        else:
            self.database_url = f"sqlite:///{tmp_path / 'cluster.sqlite3'}"
        self.manage("migrate", "--verbosity", "0")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "WORKFLOWS_"))}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            DJANGO_SETTINGS_MODULE="project.settings",
            WORKFLOWS_ENGINE="evented",
            WORKFLOWS_MODULES=self.modules,
            WORKFLOWS_INLINE_WHEN_NO_WORKER="0",
            WORKFLOWS_LEASE_SECONDS="1.5",
            WORKFLOWS_SWEEP_SECONDS="0.2",
            WORKFLOWS_HEARTBEAT_SECONDS="0.5",
            FAULT_MARKER_DIR=str(self.tmp),
        )
        env.update(extra)
        return env

    def manage(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def start_worker(self, **env: str) -> subprocess.Popen[str]:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "workflows_worker", "--grace", "1"],
            cwd=ROOT,
            env=self.env(**env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.workers.append(worker)
        # Generous: on a loaded machine Django alone can take a minute or more to start.
        self.wait_for(lambda: worker.pid in self.worker_pids(), timeout=180)
        return worker

    def kill(self, worker: subprocess.Popen[str]) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

    def enqueue(self, workflow_id: str, data: Any) -> str:
        """Start a run from a process that runs no step itself; returns the run id."""
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        self.call(workflow_id, run_id, "aenqueue", data)
        return run_id

    def resume(self, workflow_id: str, run_id: str, data: Any, **options: Any) -> None:
        """Resume from another short-lived process, which waits until the run settles."""
        self.call(workflow_id, run_id, "aresume", data, **options)

    def cancel(self, workflow_id: str, run_id: str) -> None:
        self.call(workflow_id, run_id, "acancel")

    def start_in_process(
        self, workflow_id: str, data: Any, *, engine: str = "default"
    ) -> tuple[str, subprocess.Popen[str]]:
        """Start a run in a new process that waits until it settles: ``(run id, the process)``.

        On the default engine that process is where the run's steps run.
        """
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        code = _run_method_code(workflow_id, run_id, engine, "astart", [data], {})
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.workers.append(process)  # killed with the cluster
        return run_id, process

    def call(self, workflow_id: str, run_id: str, method: str, *args: Any, **options: Any) -> None:
        """``Run.<method>(*args, **options)`` in a new process, as another server would."""
        code = _run_method_code(workflow_id, run_id, "evented", method, list(args), options)
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(done.stderr)

    # -- reading the database --------------------------------------------------------
    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.postgres:
            with psycopg.connect(self.database_url) as conn:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
        with sqlite3.connect(self.tmp / "cluster.sqlite3") as conn:
            return list(conn.execute(sql, params).fetchall())

    def execute(self, sql: str, *params: Any) -> None:
        """A statement that returns no rows, committed."""
        if self.postgres:
            with psycopg.connect(self.database_url) as conn:
                conn.execute(sql.replace("?", "%s"), params)
            return
        with sqlite3.connect(self.tmp / "cluster.sqlite3") as conn:
            conn.execute(sql, params)

    def status(self, run_id: str) -> str:
        rows = self.query("SELECT status FROM workflows_app_workflowrun WHERE run_id = ?", run_id)
        return str(rows[0][0]) if rows else "missing"

    def result(self, run_id: str) -> Any:
        (raw,) = self.query("SELECT result FROM workflows_app_workflowrun WHERE run_id = ?", run_id)[0]
        return json.loads(raw) if isinstance(raw, str) else raw

    def events(self, run_id: str) -> list[tuple[int, str, Any]]:
        rows = self.query(
            "SELECT seq, type, payload FROM workflows_app_workflowevent e WHERE e.run_id = ? ORDER BY seq",
            run_id,
        )
        return [(int(seq), str(kind), json.loads(p) if isinstance(p, str) else p) for seq, kind, p in rows]

    def worker_pids(self) -> set[int]:
        return {int(pid) for (pid,) in self.query("SELECT pid FROM workflows_app_workerheartbeat")}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the cluster did not reach the expected state in time")
            time.sleep(0.05)

    def wait_settled(self, run_id: str, timeout: float = 30.0) -> str:
        self.wait_for(lambda: self.status(run_id) not in ("pending", "running", "missing"), timeout)
        return self.status(run_id)

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
        if self.postgres:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
