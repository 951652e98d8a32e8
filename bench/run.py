"""Run the benchmarks of issue 3, print the tables and write them into docs/benchmarks.md.

    .venv/bin/python bench/run.py [--quick] [--backends memory,sqlite,postgres]
                                  [--engines default,evented] [--no-peers] [--no-write]
    .venv/bin/python bench/run.py --profile      # cProfile of the 200-step run instead

Each configuration runs in a fresh process (``python -m bench.suite``) with the
environment a deployment would set (``DATABASE_URL``, ``REDIS_URL``); PostgreSQL
gets a fresh database ``test_bench`` and Redis the db 7 (``BENCH_DATABASE`` and
``BENCH_REDIS_URL`` name others). The peers (DBOS, LangGraph),
when installed (``pip install -e '.[bench]'``), run in processes of their own, before
and after ours in a full run, since the machine is shared and its load drifts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report
from bench.docs import write_markdown
from bench.machine import describe
from bench.measure import per_step

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_BASE = "postgres://postgres@127.0.0.1:5432/"
# Several people may bench on one machine: each names its own databases and Redis db.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
_DATABASE = os.environ.get("BENCH_DATABASE", "test_bench")
BENCH_DATABASES = {"ours": _DATABASE, "dbos": f"{_DATABASE}_dbos", "langgraph": f"{_DATABASE}_langgraph"}


def fresh_database(name: str) -> str:
    """Drop and create one of the benchmark's own PostgreSQL databases; returns its URL."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_BASE + name


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def base_env(database_url: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WORKFLOWS_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DATABASE_URL=database_url,
        DEBUG="0",  # production settings, as measured; they need a key of their own
        SECRET_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="WARNING",
        WORKFLOWS_MODULES="bench.workflows",
    )
    return env


def run_module(module: str, args: list[str], env: dict[str, str], out: Path) -> dict[str, Any]:
    """Run ``python -m module args --out out`` and read its JSON results.

    What the process logs goes to a file next to ``out``; its warnings are counted in
    the results (``log``), since a benchmark that hid them would mislead.
    """
    log = out.with_suffix(".log")
    with log.open("w") as stderr:
        command = [sys.executable, "-m", module, *args, "--out", str(out)]
        done = subprocess.run(command, cwd=ROOT, env=env, stderr=stderr, check=False)
    lines = log.read_text().splitlines()
    if done.returncode != 0:
        print(f"  {module} {' '.join(args)} failed (exit {done.returncode}):", file=sys.stderr)
        print("\n".join(lines[-30:]), file=sys.stderr)
        return {}
    result: dict[str, Any] = json.loads(out.read_text())
    messages = [line for line in lines if line and not line.startswith((" ", "Traceback"))]
    if messages:
        result["log"] = {"lines": len(messages), "distinct": sorted({_shape(m) for m in messages})[:10]}
    return result


def _shape(message: str) -> str:
    """A log line without the run id it names, so that repeats count as one kind."""
    return re.sub(r"[0-9a-f-]{32,}", "<id>", message)


def configurations(backends: list[str], engines: list[str]) -> list[tuple[str, str]]:
    wanted = [("memory", "default")] if "memory" in backends and "default" in engines else []
    return wanted + [(b, e) for b in ("sqlite", "postgres") if b in backends for e in engines]


def config_args(
    backend: str, engine: str, options: argparse.Namespace, scratch: Path
) -> tuple[list[str], dict[str, str]]:
    args = ["--engine", engine, "--timeout", str(options.timeout)]
    args += ["--quick"] if options.quick else []
    if backend == "memory":
        return [*args, "--memory"], base_env(f"sqlite:///{scratch / 'unused.sqlite3'}")
    if backend == "sqlite":
        env = base_env(f"sqlite:///{scratch / f'{engine}.sqlite3'}")
    else:
        env = {**base_env(POSTGRES_BASE + BENCH_DATABASES["ours"]), "REDIS_URL": REDIS_URL}
        flush_redis()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    if backend == "postgres" and engine == "evented":
        env["WORKFLOWS_INLINE_WHEN_NO_WORKER"] = "0"
        if options.worker_concurrency:
            env["WORKFLOWS_WORKER_CONCURRENCY"] = str(options.worker_concurrency)
        args += ["--workers", str(options.workers)]
    return args, env


def run_peers(options: argparse.Namespace, scratch: Path, round_: int) -> dict[str, Any]:
    missing = [name for name in ("dbos", "langgraph") if importlib.util.find_spec(name) is None]
    if missing:
        # Ratios are the point of a run on a shared machine: no peers is an error, not "n/a".
        sys.exit(f"Peers not installed: {', '.join(missing)} (pip install -e '.[bench]', or --no-peers)")
    runs = ["--runs", "2" if options.quick else "3"]
    results: dict[str, Any] = {}
    if importlib.util.find_spec("dbos") is not None:
        url = fresh_database(BENCH_DATABASES["dbos"])
        env = base_env(url)
        found = run_module("bench.peers", ["dbos", "--postgres", url, *runs], env, scratch / "dbos.json")
        results |= found or {"dbos": {}}  # failed: a broken benchmark, not a column left out
    if importlib.util.find_spec("langgraph") is not None:
        url = fresh_database(BENCH_DATABASES["langgraph"])
        lite = scratch / f"langgraph-{round_}.sqlite3"
        args = ["langgraph", "--postgres", url, "--sqlite", str(lite), *runs]
        found = run_module("bench.peers", args, base_env(url), scratch / "langgraph.json")
        results |= found or {"langgraph": {}}
    return results


def failed_benchmarks(configs: dict[str, Any], peer_rounds: list[dict[str, Any]]) -> list[str]:
    """The benchmarks that broke: those with no results (``run_module`` printed their errors)."""
    peers = {name for found in peer_rounds for name, result in found.items() if not result}
    return [name for name, result in configs.items() if not result] + sorted(peers)


def merge_peer_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One median per peer over the runs of every round."""
    merged: dict[str, Any] = {}
    for name in {name for found in rounds for name in found}:
        seconds = [s for found in rounds if name in found for s in found[name]["runs_s"]]
        merged[name] = {**per_step(seconds, 200), "runs_s": seconds}
    return dict(sorted(merged.items()))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a 1,000-step loop")
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    parser.add_argument("--engines", default="default,evented")
    parser.add_argument("--no-peers", action="store_true", help="skip DBOS and LangGraph")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--workers", type=int, default=2, help="worker processes (evented on PostgreSQL)")
    parser.add_argument("--worker-concurrency", type=int, default=0, help="WORKFLOWS_WORKER_CONCURRENCY")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one benchmark may take")
    parser.add_argument("--profile", action="store_true", help="profile the 200-step run and exit")
    return parser.parse_args()


def profile(scratch: Path) -> None:
    for backend, engine in (("memory", "default"), ("sqlite", "evented")):
        args, env = config_args(backend, engine, argparse.Namespace(quick=True, timeout=600.0), scratch)
        out = scratch / f"profile-{backend}-{engine}.txt"
        subprocess.run(
            [sys.executable, "-m", "bench.suite", *args, "--profile", "--out", str(out)],
            cwd=ROOT,
            env=env,
            check=True,
        )
        print(out.read_text())


def main() -> None:
    options = parse()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        scratch = Path(tmp)
        if options.profile:
            profile(scratch)
            return
        backends, engines = options.backends.split(","), options.engines.split(",")
        machine = describe(POSTGRES_ADMIN, REDIS_URL)
        peer_rounds = [] if options.no_peers else [run_peers(options, scratch, 1)]
        if "postgres" in backends:
            fresh_database(BENCH_DATABASES["ours"])
        configs: dict[str, Any] = {}
        for backend, engine in configurations(backends, engines):
            name = f"{backend}/{engine}"
            print(f"Running {name}...", file=sys.stderr)
            args, env = config_args(backend, engine, options, scratch)
            configs[name] = run_module("bench.suite", args, env, scratch / "suite.json")
        if not options.no_peers and not options.quick:
            peer_rounds.append(run_peers(options, scratch, 2))
    failed = failed_benchmarks(configs, peer_rounds)
    if failed:
        # Never a table with "n/a" where a benchmark broke: the error above is the result.
        print(f"Benchmarks failed: {', '.join(failed)} (their errors are above)", file=sys.stderr)
        sys.exit(1)
    peers = merge_peer_rounds(peer_rounds)
    machine["load_average_after"] = describe(POSTGRES_ADMIN, REDIS_URL)["load_average"]
    machine["bench_minutes"] = round((time.monotonic() - began) / 60, 1)
    command = " ".join([".venv/bin/python bench/run.py", *sys.argv[1:]])
    tables = {
        "configurations": [*report.configuration_table(configs), "", *report.log_notes(configs)],
        "peers": report.peer_table(peers, configs) if peers else [],
        "targets": report.target_table(configs, peers),
    }
    for lines in tables.values():
        print("\n".join(lines) + "\n")
    if not options.no_write:
        write_markdown(
            Path(options.output),
            machine,
            command,
            options.quick,
            tables,
            {"configs": configs, "peers": peers},
        )
        print(f"Wrote {options.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
