#!/usr/bin/env python3
"""The project's two entry points, for a fresh machine with only Python 3.11+.

    python3 dev.py serve    # venv, install, migrate, serve the app on 127.0.0.1:8000
    python3 dev.py test     # venv, install, lint, types, checks, tests on SQLite and PostgreSQL

``test`` passes extra arguments to pytest (``python3 dev.py test tests/core -x``);
``--fast`` skips the lint and type legs. Under ``CI=true`` an unreachable
PostgreSQL or Redis is a failure, never a skip. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
STAMP = VENV / ".installed"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True)


def ensure_venv() -> None:
    """Create .venv and install the project with its dev extras when pyproject changed."""
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != digest:
        run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        STAMP.write_text(digest)


def ensure_chromium() -> None:
    """Install Debian's Chromium for the browser test where it is missing (root and apt only)."""
    if shutil.which("chromium") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    print("+ apt-get install chromium (for the browser test)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, check=False)
    if not shutil.which("chromium"):
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, check=False)


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start_services() -> None:
    """Start the machine's PostgreSQL and Redis if they are installed but down."""
    if not reachable("127.0.0.1", 5432) and Path("/etc/postgresql").exists():
        versions = sorted(os.listdir("/etc/postgresql"))
        if versions and shutil.which("pg_ctlcluster"):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False
            )
    if not reachable("127.0.0.1", 6379) and shutil.which("redis-server"):
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379)):
        time.sleep(0.5)


def serve() -> None:
    ensure_venv()
    run(PYTHON, "manage.py", "migrate", "--no-input")
    print("Serving on http://127.0.0.1:8000/ (admin at /admin/; demo workflows: manage.py run_workflow)")
    daphne = str(BIN / "daphne")
    os.execv(daphne, [daphne, "-b", "127.0.0.1", "-p", "8000", "project.asgi:application"])  # noqa: S606


def test(args: list[str]) -> int:
    ensure_venv()
    fast = "--fast" in args
    pytest_args = [a for a in args if a != "--fast"]
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    if not fast:
        run(BIN / "ruff", "check", ".")
        run(BIN / "ruff", "format", "--check", ".")
        run(BIN / "mypy", "workflows_app")
        run(PYTHON, "manage.py", "check", "--fail-level", "WARNING", env=base_env)
        run(PYTHON, "manage.py", "makemigrations", "--check", "--dry-run", env=base_env)
    legs = [("SQLite + in-memory layer", base_env)]
    ensure_chromium()
    start_services()
    if reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379):
        legs.append(
            ("PostgreSQL + Redis", {**base_env, "DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_URL})
        )
    elif CI:
        print("PostgreSQL or Redis cannot be reached on 127.0.0.1 and CI=true: failing.", file=sys.stderr)
        return 1
    else:
        print("WARNING: PostgreSQL or Redis is not reachable; only the SQLite leg runs.", file=sys.stderr)
    for name, env in legs:
        print(f"\n=== tests on {name} ===", flush=True)
        run(PYTHON, "-m", "pytest", *pytest_args, env=env)
    print(f"\nAll legs passed: {', '.join(name for name, _ in legs)}.")
    return 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        if command == "serve":
            serve()
            return 0
        if command == "test":
            return test(sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        print(f"\nFailed: {' '.join(str(a) for a in exc.cmd)} (exit {exc.returncode})", file=sys.stderr)
        return exc.returncode or 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
