"""Capacity: what one step costs the database and Redis, and how many steps one PostgreSQL sustains.

    .venv/bin/python bench/capacity.py [--workers 1,2,4] [--runs 200]

1. Per step, for the 200-step sequential workflow (a warm-up run and two timed
   runs of ``bench.suite --quick --scenarios sequential``): the SQL statements
   the database received (PostgreSQL: ``log_statement = 'all'`` set on the
   benchmark's own database and its log lines counted; each is one round trip,
   BEGIN and COMMIT included), its transactions (``pg_stat_database``), and the
   Redis commands of the benchmark's Redis db (``MONITOR``, commands inside
   scripts not counted: a pipeline's commands are counted one by one, so round
   trips are fewer).
2. Throughput: ``--runs`` runs of 5 steps started at once, on the default engine
   and on the evented engine with each number of worker processes, with the CPU
   seconds the PostgreSQL server processes used meanwhile (``/proc``). Steps per
   second over PostgreSQL CPU seconds per step is what one PostgreSQL core
   would sustain if nothing else limited it: the basis of the projection in
   docs/benchmarks.md.

Uses the database ``<BENCH_DATABASE>_capacity`` and the Redis db of ``BENCH_REDIS_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import redis

from bench.run import POSTGRES_ADMIN, POSTGRES_BASE, REDIS_URL, ROOT, base_env

DATABASE = os.environ.get("BENCH_DATABASE", "test_bench") + "_capacity"
PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")
SEQUENTIAL_STEPS = 600  # a warm-up and two timed runs of 200 steps (--quick)


def fresh(env: dict[str, str]) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def transactions() -> int:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        row = admin.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [DATABASE]
        ).fetchone()
    return int(row[0]) if row else 0


def postgres_cpu_seconds() -> float:
    """User and system CPU of the PostgreSQL server processes and of their children that ended.

    A backend lives as long as its connection; when it ends, the postmaster reaps it
    and its CPU moves into the postmaster's children's times, which are counted too.
    Every database's work counts: the machine's other users add to it.
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            if "postgres" not in stat.with_name("comm").read_text():
                continue
        except OSError:
            continue
        values = fields[1].split()
        ticks += sum(int(value) for value in values[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class RedisCommands:
    """Counts the commands clients send to one Redis db while the block runs (``MONITOR``)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = self.client.connection_pool.connection_kwargs.get("db", 0)
        self.count = 0
        self._stop = threading.Event()

    def __enter__(self) -> RedisCommands:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        time.sleep(0.5)
        return self

    def _watch(self) -> None:
        with self.client.monitor() as monitor:
            for command in monitor.listen():
                if self._stop.is_set():
                    return
                if command.get("db") == self.db and command.get("client_type") != "lua":
                    self.count += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.client.set("bench:capacity:stop", "1")  # one more command, so that the monitor wakes up
        self._thread.join(timeout=5)


def suite(args: list[str], env: dict[str, str], scratch: Path) -> dict[str, Any]:
    out = scratch / "out.json"
    subprocess.run(
        [sys.executable, "-m", "bench.suite", *args, "--out", str(out)], cwd=ROOT, env=env, check=True
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def per_step(engine: str, workers: int, scratch: Path) -> dict[str, Any]:
    env = {**base_env(POSTGRES_BASE + DATABASE), "REDIS_URL": REDIS_URL}
    fresh(env)
    args = ["--engine", engine, "--quick", "--scenarios", "sequential"]
    if workers:
        env["WORKFLOWS_INLINE_WHEN_NO_WORKER"] = "0"
        args += ["--workers", str(workers)]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{DATABASE}\" SET log_statement = 'all'")
    began_log = PG_LOG.stat().st_size
    began_xacts = transactions()
    try:
        with RedisCommands(REDIS_URL) as commands:
            result = suite(args, env, scratch)
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{DATABASE}" RESET log_statement')
    with PG_LOG.open("rb") as log:
        log.seek(began_log)
        lines = log.read().decode(errors="replace").splitlines()
    marker = f"@{DATABASE} LOG:  "
    statements = sum(1 for line in lines if marker in line and ("statement:" in line or "execute" in line))
    return {
        "statements_per_step": statements / SEQUENTIAL_STEPS,
        "transactions_per_step": (transactions() - began_xacts) / SEQUENTIAL_STEPS,
        "redis_commands_per_step": commands.count / SEQUENTIAL_STEPS,
        "steps_per_s": result["sequential"]["steps_per_s"],
    }


def sqlite_per_step(engine: str, scratch: Path) -> dict[str, Any]:
    """SQLite has no round trips: the statements it runs in the process (sqlite3's trace callback)."""
    env = {**base_env(f"sqlite:///{scratch / (engine + '.sqlite3')}"), "BENCH_COUNT_SQLITE": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    result = suite(["--engine", engine, "--quick", "--scenarios", "sequential"], env, scratch)
    return {
        "statements_per_step": result["sqlite_statements"] / SEQUENTIAL_STEPS,
        "steps_per_s": result["sequential"]["steps_per_s"],
    }


def throughput(engine: str, workers: int, runs: int, scratch: Path) -> dict[str, Any]:
    env = {**base_env(POSTGRES_BASE + DATABASE), "REDIS_URL": REDIS_URL}
    fresh(env)
    args = ["--engine", engine, "--quick", "--scenarios", "concurrent"]
    if workers:
        env["WORKFLOWS_INLINE_WHEN_NO_WORKER"] = "0"
        args += ["--workers", str(workers)]
    cpu = postgres_cpu_seconds()
    result = suite(args, env, scratch)["concurrent"]
    # The warm-up run and the worker start-up are inside the CPU window: an overestimate.
    pg_cpu = postgres_cpu_seconds() - cpu
    steps = runs * 5
    return {
        "steps_per_s": result["runs_per_s"] * 5,
        "p99_s": result["p99_s"],
        "postgres_cpu_ms_per_step": pg_cpu * 1000 / steps,
        "one_core_steps_per_s": steps / pg_cpu if pg_cpu else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--runs", type=int, default=200, help="as bench.suite's concurrent scenario")
    parser.add_argument("--throughput-only", action="store_true")
    options = parser.parse_args()
    results: dict[str, Any] = {"per_step": {}, "throughput": {}}
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        scratch = Path(tmp)
        for engine in () if options.throughput_only else ("default", "evented"):
            results["per_step"][f"SQLite, {engine}"] = sqlite_per_step(engine, scratch)
        for engine, workers in () if options.throughput_only else (("default", 0), ("evented", 2)):
            name = f"PostgreSQL, {engine}" + (f", {workers} workers" if workers else "")
            results["per_step"][name] = per_step(engine, workers, scratch)
            print(name, results["per_step"][name], file=sys.stderr)
        counts = [("default", 0)] + [("evented", int(n)) for n in options.workers.split(",")]
        for engine, workers in counts:
            name = f"{engine}" + (f", {workers} workers" if workers else "")
            results["throughput"][name] = throughput(engine, workers, options.runs, scratch)
            print(name, results["throughput"][name], file=sys.stderr)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
