"""The benchmarks of workflows_app, for one engine on one backend, in a process of its own.

``python -m bench.suite --engine evented --workers 2 --out result.json`` with the
backend chosen by the environment (``DATABASE_URL``, ``REDIS_URL``), as for any
Django process of the project; ``--memory`` runs on ``use_memory_storage()``.
``bench/run.py`` starts one such process per configuration and reads the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import django


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does; ``--quick`` makes everything smaller but the shapes."""

    sequential_runs: int
    foreach_items: int
    foreach_runs: int
    concurrent_runs: int
    loop_iterations: int
    window: int = 50

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                sequential_runs=2,
                foreach_items=1000,
                foreach_runs=2,
                concurrent_runs=200,
                loop_iterations=1000,
            )
        return cls(
            sequential_runs=5, foreach_items=1000, foreach_runs=3, concurrent_runs=200, loop_iterations=5000
        )


async def atimed_run(workflow: Any, engine: str, data: Any) -> tuple[float, Any]:
    """Seconds from creating a run to its result, and the result (which must be a success)."""
    began = time.perf_counter()
    run = await workflow.acreate_run(engine=engine)
    result = await run.astart(data)
    elapsed = time.perf_counter() - began
    if result.status != "success":
        raise RuntimeError(f"{workflow.id} ended {result.status}: {result.error}")
    return elapsed, run


async def asequential(engine: str, sizes: Sizes) -> dict[str, Any]:
    """200 no-op steps in a row: the engine's cost per step, next to a plain Python loop."""
    from bench import workflows
    from bench.measure import per_step, plain_loop_us_per_step

    await atimed_run(workflows.sequential, engine, {"n": 0})  # warm caches and connections
    seconds = [
        (await atimed_run(workflows.sequential, engine, {"n": 0}))[0] for _ in range(sizes.sequential_runs)
    ]
    return {
        **per_step(seconds, workflows.SEQUENTIAL_STEPS),
        "plain_loop_us_per_step": plain_loop_us_per_step(),
        "runs_s": seconds,
    }


async def aforeach(engine: str, sizes: Sizes, pids: list[int]) -> dict[str, Any]:
    """1,000 items at concurrency 50: items per second, and the RSS of the processes running them."""
    from bench import workflows
    from bench.measure import MemorySampler

    await atimed_run(workflows.fan_out, engine, list(range(100)))
    items = list(range(sizes.foreach_items))
    seconds, peaks = [], []
    baseline = MemorySampler(pids).total()
    for _ in range(sizes.foreach_runs):
        with MemorySampler(pids) as sampler:
            elapsed, run = await atimed_run(workflows.fan_out, engine, items)
        seconds.append(elapsed)
        peaks.append(sampler.peak())
        # What the storage keeps of a run is not the worker's: the in-memory storage keeps it
        # in this very process. Deleting it leaves only what the engine itself holds on to.
        await workflows.fan_out.adelete_run(run.run_id)
    early, late = sampler.quarter_peaks()
    return {
        "items_per_s": len(items) / sorted(seconds)[len(seconds) // 2],
        "runs_s": seconds,
        "rss_baseline_mb": baseline,
        "rss_peaks_mb": peaks,
        "rss_growth_between_runs_mb": peaks[-1] - peaks[0],
        "rss_growth_within_run_mb": late - early,
    }


async def aconcurrent(engine: str, sizes: Sizes) -> dict[str, Any]:
    """200 runs of a 5-step workflow started at once: throughput and run latency."""
    from bench import workflows
    from bench.measure import percentile

    await atimed_run(workflows.short, engine, {"n": 0})
    began = time.perf_counter()
    timed = await asyncio.gather(
        *(atimed_run(workflows.short, engine, {"n": 0}) for _ in range(sizes.concurrent_runs))
    )
    wall = time.perf_counter() - began
    latencies = [elapsed for elapsed, _ in timed]
    return {
        "runs_per_s": len(latencies) / wall,
        "p50_s": percentile(latencies, 0.50),
        "p99_s": percentile(latencies, 0.99),
        "wall_s": wall,
    }


async def aloop(engine: str, sizes: Sizes) -> dict[str, Any]:
    """One dountil loop of thousands of iterations: step 10 must cost what the last step costs."""
    from bench import workflows
    from bench.measure import interval_ratio

    limit = sizes.loop_iterations
    elapsed, run = await atimed_run(workflows.long_loop, engine, {"n": 0, "limit": limit})
    rows = [row for row in await run.storage.aget_steps(run.run_id) if row.status == "success"]
    stamps = [row.output["t"] for row in sorted(rows, key=lambda row: row.iteration)]
    if len(stamps) != limit:
        raise RuntimeError(f"The loop ran {len(stamps)} iterations instead of {limit}")
    return {
        "iterations": limit,
        "us_per_iteration": elapsed * 1e6 / limit,
        **interval_ratio(stamps, early=10, late=limit, window=sizes.window),
    }


SCENARIOS = ("sequential", "foreach", "concurrent", "loop")


async def awithin(name: str, work: Awaitable[dict[str, Any]], timeout: float) -> dict[str, Any]:
    """The scenario's results; past ``timeout`` the stacks of every task, to see what hangs."""
    try:
        return await asyncio.wait_for(work, timeout)
    except TimeoutError:
        print(f"Benchmark {name!r} did not finish in {timeout:.0f} s; its tasks:", file=sys.stderr)
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)
        raise


async def asuite(
    engine: str, sizes: Sizes, pids: list[int], scenarios: Sequence[str], timeout: float
) -> dict[str, Any]:
    from bench.measure import load_average

    work: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "sequential": lambda: asequential(engine, sizes),
        "foreach": lambda: aforeach(engine, sizes, pids),
        "concurrent": lambda: aconcurrent(engine, sizes),
        "loop": lambda: aloop(engine, sizes),
    }
    results: dict[str, Any] = {"load_before": load_average()}
    for name in scenarios:
        began = time.perf_counter()
        results[name] = await awithin(name, work[name](), timeout)
        results[name]["bench_s"] = time.perf_counter() - began
    results["load_after"] = load_average()
    return results


_SQLITE_STATEMENTS = [0]


def count_sqlite_statements() -> None:
    """Count every statement SQLite runs in this process (``BENCH_COUNT_SQLITE=1``, bench/capacity.py)."""
    from django.db.backends.signals import connection_created

    def count(_: str) -> None:
        _SQLITE_STATEMENTS[0] += 1

    def traced(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.vendor == "sqlite":
            connection.connection.set_trace_callback(count)

    connection_created.connect(traced, weak=False)


def worker_env() -> dict[str, str]:
    """The environment of worker processes: this process's, as an ops team would deploy it."""
    return {**os.environ, "WORKFLOWS_ENGINE": "evented"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=["default", "evented"], required=True)
    parser.add_argument("--memory", action="store_true", help="in-memory storage (no database)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes to start (evented)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one scenario may take")
    parser.add_argument("--profile", action="store_true", help="print a profile of the 200-step run instead")
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    if args.memory:
        from workflows_app.testing import use_memory_storage

        use_memory_storage()
    if args.profile:
        from bench.profiling import aprofile_sequential

        report = asyncio.run(aprofile_sequential(args.engine))
        with open(args.out, "w") as out:
            out.write(report)
        return
    sizes = Sizes.of(args.quick)
    if os.environ.get("BENCH_COUNT_SQLITE"):
        count_sqlite_statements()
    scenarios = [name for name in args.scenarios.split(",") if name]
    if args.workers:
        from bench.cluster import Workers

        with Workers(args.workers, worker_env()) as workers:
            results = asyncio.run(asuite(args.engine, sizes, workers.pids, scenarios, args.timeout))
    else:
        results = asyncio.run(asuite(args.engine, sizes, [os.getpid()], scenarios, args.timeout))
    if os.environ.get("BENCH_COUNT_SQLITE"):
        results["sqlite_statements"] = _SQLITE_STATEMENTS[0]
    with open(args.out, "w") as out:
        json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
