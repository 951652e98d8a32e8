"""Does the queue hold under healthy load? The durability checks of issue 10, run back to back.

    .venv/bin/python -m bench.durability --database-url postgres://.../mydb --redis-url redis://.../1

With ``--workers`` worker processes (2) at the default concurrency, on
PostgreSQL + Redis: the bench foreach (1,000 items at concurrency 50)
``--repeats`` times in a row (10), then one foreach of ``--big`` items (10,000),
then ``--concurrent`` (200) runs of a 5-step workflow started at once. Every
run must succeed: the first failure is printed and the command exits non-zero.
Prints one line per run with its seconds, then a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parents[1]


async def atimed(workflow: Any, data: Any) -> float:
    """Seconds of one run from creation to its result; raises unless it succeeded."""
    began = time.perf_counter()
    run = await workflow.acreate_run(engine="evented")
    result = await run.astart(data)
    if result.status != "success":
        raise RuntimeError(f"{workflow.id} run {run.run_id} ended {result.status}: {result.error}")
    await workflow.adelete_run(run.run_id)
    return time.perf_counter() - began


async def amain(options: argparse.Namespace) -> dict[str, Any]:
    from bench import workflows

    summary: dict[str, Any] = {"foreach_1000_s": []}
    items = list(range(1000))
    for attempt in range(1, options.repeats + 1):
        seconds = await atimed(workflows.fan_out, items)
        summary["foreach_1000_s"].append(round(seconds, 2))
        print(f"foreach 1,000 @ 50, run {attempt}/{options.repeats}: success in {seconds:.2f} s", flush=True)
    seconds = await atimed(workflows.fan_out, list(range(options.big)))
    summary[f"foreach_{options.big}_s"] = round(seconds, 2)
    print(f"foreach {options.big:,} @ 50: success in {seconds:.2f} s", flush=True)
    began = time.perf_counter()
    await asyncio.gather(*(atimed(workflows.short, {"n": 0}) for _ in range(options.concurrent)))
    seconds = time.perf_counter() - began
    summary[f"concurrent_{options.concurrent}x5_s"] = round(seconds, 2)
    print(f"{options.concurrent} concurrent 5-step runs: all success in {seconds:.2f} s", flush=True)
    return summary


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database of your own")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--concurrent", type=int, default=200)
    options = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWS_")}
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DATABASE_URL=options.database_url,
        REDIS_URL=options.redis_url,
        WORKFLOWS_MODULES="bench.workflows",
        WORKFLOWS_INLINE_WHEN_NO_WORKER="0",
        LOG_LEVEL="WARNING",
    )
    migrate = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    django.setup()
    from bench.cluster import Workers

    try:
        with Workers(options.workers, {**env, "WORKFLOWS_ENGINE": "evented"}):
            summary = asyncio.run(amain(options))
    except Exception as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
