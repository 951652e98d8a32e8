#!/usr/bin/env python3
"""The project's two entry points, for a fresh machine with only Python 3.11+.

    python3 dev.py serve    # venv, install, migrate, serve the app on 127.0.0.1:8000
    python3 dev.py test     # venv, install, lint, types, checks, tests on SQLite and PostgreSQL

``test`` passes extra arguments to pytest (``python3 dev.py test tests/core -x``);
``--fast`` skips the lint and type legs and the newest-versions leg. Without
extra arguments, ``test`` also runs the unit, API, admin and contract tests on
the newest Python and Django the machine has (``.venv-newest``). Under
``CI=true`` an unreachable PostgreSQL or Redis, or a missing newest Python, is a
failure, never a skip. Both commands run in development mode (``DEBUG=1``, the
development key); production sets ``SECRET_KEY`` (docs/deployment.md).
Standard library only.
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
# The second leg: the newest Python the machine has, with the newest Django 6.x pip finds for it.
NEWEST_VENV = ROOT / ".venv-newest"
NEWEST_PYTHONS = ("3.14", "3.13", "3.12")
NEWEST_DJANGO = "django>=6,<7"
NEWEST_TESTS = ("tests/core", "tests/django", "tests/api", "tests/channels", "tests/admin", "tests/contract")


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


def newest_python() -> Path | None:
    """The newest Python 3.12+ on the PATH or under pyenv, for the newest-versions leg."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for version in NEWEST_PYTHONS:
        for candidate in sorted(pyenv.glob(f"{version}.*"), reverse=True):
            if (candidate / "bin" / "python3").exists():
                return candidate / "bin" / "python3"
        found = shutil.which(f"python{version}")
        if found and "/shims/" not in found:  # a pyenv shim fails unless that version is selected
            return Path(found)
    return None


def ensure_newest_venv(python: Path) -> Path:
    """``.venv-newest``: the project with its test extras and the newest Django 6.x, on ``python``."""
    bin_python = NEWEST_VENV / "bin" / "python"
    stamp = NEWEST_VENV / ".installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + str(python).encode()).hexdigest()
    if not bin_python.exists() or not stamp.exists() or stamp.read_text() != digest:
        run(python, "-m", "venv", "--clear", NEWEST_VENV)
        run(bin_python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(bin_python, "-m", "pip", "install", "--quiet", "-e", ".[test]", NEWEST_DJANGO)
        stamp.write_text(digest)
    return bin_python


def newest_leg(base_env: dict[str, str]) -> str | None:
    """Run the unit, API, admin and contract tests on the newest Python and Django; their names."""
    python = newest_python()
    if python is None:
        if CI:
            raise SystemExit("No Python 3.12+ found for the newest-versions leg and CI=true: failing.")
        print("WARNING: no Python 3.12+ found; the newest-versions leg does not run.", file=sys.stderr)
        return None
    bin_python = ensure_newest_venv(python)
    versions = subprocess.run(
        [bin_python, "-c", "import sys, django; print(sys.version.split()[0], django.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    name = f"Python {versions[0]} + Django {versions[1]}, SQLite"
    print(f"\n=== tests on {name} ===", flush=True)
    run(bin_python, "-m", "pytest", "-q", *NEWEST_TESTS, env=base_env)
    return name


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
    os.environ.setdefault("DEBUG", "1")
    run(PYTHON, "manage.py", "migrate", "--no-input")
    print("Serving on http://127.0.0.1:8000/ (admin at /admin/; demo workflows: manage.py run_workflow)")
    daphne = str(BIN / "daphne")
    os.execv(daphne, [daphne, "-b", "127.0.0.1", "-p", "8000", "project.asgi:application"])  # noqa: S606


def test(args: list[str]) -> int:
    ensure_venv()
    fast = "--fast" in args
    pytest_args = [a for a in args if a != "--fast"]
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base_env.setdefault("DEBUG", "1")
    if not fast:
        run(BIN / "ruff", "check", ".")
        run(BIN / "ruff", "format", "--check", ".")
        run(BIN / "mypy", "workflows_app", env=base_env)
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
    names = [name for name, _ in legs]
    for name, env in legs:
        print(f"\n=== tests on {name} ===", flush=True)
        run(PYTHON, "-m", "pytest", *pytest_args, env=env)
    if not fast and not pytest_args:
        newest = newest_leg(base_env)
        names += [newest] if newest else []
    print(f"\nAll legs passed: {', '.join(names)}.")
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
