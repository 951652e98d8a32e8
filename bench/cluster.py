"""Worker processes for the distributed benchmark (``manage.py workflows_worker``).

The same idea as the fault tests' cluster (tests/e2e/cluster.py): each worker is a
child process that shares only the database and Redis with the benchmark, as it
would on another machine, and says it is alive through its heartbeat row.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Workers:
    """``count`` worker processes started with ``env``; stopped on exit."""

    def __init__(self, count: int, env: dict[str, str]) -> None:
        self.count = count
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def __enter__(self) -> Workers:
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "workflows_worker", "--grace", "1"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                )
            )
        try:
            self._wait_alive()
        except BaseException:
            self.__exit__()  # never leave the workers running when the benchmark cannot start
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def _wait_alive(self, timeout: float = 180.0) -> None:
        """Wait until every worker has written its heartbeat, so that runs find them alive."""
        from workflows_app.models import WorkerHeartbeat

        deadline = time.monotonic() + timeout
        while set(self.pids) - set(WorkerHeartbeat.objects.values_list("pid", flat=True)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError("The benchmark's workers did not start")
            time.sleep(0.1)
