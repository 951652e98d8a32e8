#!/usr/bin/env python3
"""The project's two entry points, for a fresh machine with only Python 3.11+.

    python3 dev.py serve    # venv, install, migrate, serve the app on 127.0.0.1:8000
    python3 dev.py test     # venv, install, lint, types, checks, tests on SQLite and PostgreSQL

``test`` runs its legs side by side, each into ``.test-logs/``, and prints a leg's
log whole when it fails. It passes extra arguments to pytest
(``python3 dev.py test tests/core -x``);
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
import resource
import shutil
import socket
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
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
LOGS = ROOT / ".test-logs"
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


def newest_legs(base_env: dict[str, str]) -> list[Leg]:
    """The unit, API, admin and contract tests on the newest Python and Django the machine has."""
    python = newest_python()
    if python is None:
        if CI:
            raise SystemExit("No Python 3.12+ found for the newest-versions leg and CI=true: failing.")
        print("WARNING: no Python 3.12+ found; the newest-versions leg does not run.", file=sys.stderr)
        return []
    bin_python = ensure_newest_venv(python)
    versions = subprocess.run(
        [bin_python, "-c", "import sys, django; print(sys.version.split()[0], django.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    name = f"Python {versions[0]} + Django {versions[1]}, SQLite"
    env = {**base_env, "TEST_REDIS_URL": redis_db(REDIS_URL, 9)}
    pytest = [str(bin_python), "-m", "pytest", "-q"]
    others = [path for path in NEWEST_TESTS if path != "tests/contract"]
    return [
        Leg(f"{name}: contract tests", [*pytest, "tests/contract"], env),
        Leg(f"{name}: the other tests", [*pytest, *others], env),
    ]


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


@dataclass
class Leg:
    """One pytest process of the matrix: its name, its command and its environment."""

    name: str
    argv: list[str]
    env: dict[str, str]


def redis_db(url: str, number: int) -> str:
    """``url`` with its database number replaced, so that legs running side by side never share one."""
    base, _, last = url.rpartition("/")
    return f"{base}/{number}" if last.isdigit() else f"{url.rstrip('/')}/{number}"


def contract_halves() -> tuple[list[str], list[str]]:
    """The contract test files in two halves of about as many tests each, by file name."""
    files = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests" / "contract").glob("test_*.py"))
    counts = [Path(ROOT / name).read_text().count("def test_") for name in files]
    total, running, cut = sum(counts), 0, len(files)
    for index, count in enumerate(counts):
        running += count
        if running * 2 >= total:
            cut = index + 1
            break
    return files[:cut], files[cut:]


def matrix(pytest_args: list[str], base_env: dict[str, str]) -> list[Leg]:
    """The legs, in shards that run side by side, each with its own test database and Redis db.

    SQLite runs the contract tests and the rest; PostgreSQL + Redis, the slowest, the
    contract tests in two halves and the rest. Extra pytest arguments select tests, so
    then each backend runs them whole.
    """
    pytest = [str(PYTHON), "-m", "pytest", *pytest_args]
    sqlite = {**base_env, "TEST_REDIS_URL": redis_db(REDIS_URL, 8)}
    postgres = {**base_env, "DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_URL}
    if pytest_args:
        return [Leg("SQLite + in-memory layer", pytest, sqlite), Leg("PostgreSQL + Redis", pytest, postgres)]
    first, second = contract_halves()
    database = POSTGRES_URL.rsplit("/", 1)[1]

    def on_postgres(shard: str, redis: int) -> dict[str, str]:
        return {
            **postgres,
            "TEST_DATABASE_NAME": f"test_{database}_{shard}",
            "REDIS_URL": redis_db(REDIS_URL, redis),
        }

    return [
        Leg("SQLite + in-memory layer: contract tests", [*pytest, "tests/contract"], sqlite),
        Leg("SQLite + in-memory layer: the other tests", [*pytest, "--ignore=tests/contract"], sqlite),
        Leg("PostgreSQL + Redis: contract tests, first half", [*pytest, *first], on_postgres("first", 6)),
        Leg("PostgreSQL + Redis: contract tests, second half", [*pytest, *second], on_postgres("second", 7)),
        Leg("PostgreSQL + Redis: the other tests", [*pytest, "--ignore=tests/contract"], postgres),
    ]


def run_side_by_side(legs: list[Leg]) -> list[Leg]:
    """Run the legs at once, each into its own log, printed whole when it ends; the failed legs.

    The suites spend most of their time waiting on workers, leases and timers, so
    on two cores they take little longer side by side than the longest alone.
    """
    LOGS.mkdir(exist_ok=True)
    running = []
    for index, leg in enumerate(legs):
        log = LOGS / f"leg-{index}.log"
        print(f"+ [{leg.name}] {' '.join(leg.argv)}  > {log.relative_to(ROOT)}", flush=True)
        handle = log.open("w")
        process = subprocess.Popen(leg.argv, cwd=ROOT, env=leg.env, stdout=handle, stderr=subprocess.STDOUT)
        running.append((leg, process, log, handle, time.monotonic()))
    failed: list[tuple[Leg, Path]] = []
    cpu = children_cpu()
    while running:
        for item in [item for item in running if item[1].poll() is not None]:
            leg, process, log, handle, started = item
            running.remove(item)
            handle.close()
            # The CPU of the processes reaped since the last one: this leg's and its children's.
            spent, cpu = children_cpu() - cpu, children_cpu()
            took = f"{(time.monotonic() - started) / 60:.1f} min, {spent / 60:.1f} CPU min"
            if process.returncode:
                failed.append((leg, log))
                print(f"\n=== {leg.name}: FAILED (exit {process.returncode}) after {took} ===")
            else:
                print(f"\n=== {leg.name}: passed in {took} ===\n{tail(log)}", flush=True)
        time.sleep(0.5)
    for leg, log in failed:  # last, so that the end of the output shows what failed
        print(f"\n=== {leg.name}: FAILED, its output ===\n{log.read_text()}", flush=True)
    return [leg for leg, _ in failed]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tail(log: Path, lines: int = 3) -> str:
    return "\n".join(log.read_text().rstrip().splitlines()[-lines:])


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
    ensure_chromium()
    start_services()
    legs = matrix(pytest_args, base_env)
    if not (reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379)):
        if CI:
            print("PostgreSQL or Redis cannot be reached on 127.0.0.1 and CI=true: failing.", file=sys.stderr)
            return 1
        print("WARNING: PostgreSQL or Redis is not reachable; only the SQLite legs run.", file=sys.stderr)
        legs = [leg for leg in legs if "DATABASE_URL" not in leg.env]
    if not fast and not pytest_args:
        legs += newest_legs(base_env)
    failed = run_side_by_side(legs)
    if failed:
        print(f"\nFailed legs: {', '.join(leg.name for leg in failed)}.", file=sys.stderr)
        return 1
    print(f"\nAll legs passed: {', '.join(leg.name for leg in legs)}.")
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
