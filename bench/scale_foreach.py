"""The foreach half of bench/scale.py: foreaches of growing size on the evented engine, one process.

``python -m bench.scale_foreach --sizes 1000 10000 100000 --workers 2 --out result.json``,
configured by the environment as ``bench/run.py`` configures its evented PostgreSQL
run (``bench.run.config_args``). Every size runs in this one process against the same
worker processes, smallest first, and the first size runs again at the end: the machine
is shared, and a slower last run of the small size says the load moved, not the engine.

For each run: items per second (create to result), the workers' RSS (sampled through
the run; the median and the peak of its first and of its last quarter: the peak of the
last holds the foreach's end, where one worker collects every item's output), the
database's transactions per item, and the marginal cost of an
item early and late, from the items' own rows (``ended_at``): the milliseconds per
item over the second tenth of the items and over the last tenth but the final batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import django
from asgiref.sync import sync_to_async

SAMPLE_SECONDS = 0.1  # 10 ms as bench/suite.py samples would be 90,000 samples over a 15-minute run


async def amarginal(run_id: str, concurrency: int) -> dict[str, float]:
    """Milliseconds per item over the second tenth of the items and over the last tenth.

    The items' rows say when each ended; the first tenth holds the start (the worker's
    caches, the first batch) and the last batch the foreach's end (collecting the
    outputs), so neither is in the measure.
    """
    from workflows_app.models import StepAttempt

    rows = StepAttempt.objects.filter(run_id=run_id, foreach_index__gte=0, status="success")
    ends = sorted([ended async for ended in rows.values_list("ended_at", flat=True) if ended is not None])
    tenth = max(len(ends) // 10, 1)
    early = ends[tenth : 2 * tenth + 1]
    late = ends[-tenth - concurrency - 1 : -concurrency] if len(ends) > tenth + concurrency else ends
    return {
        "early_ms_per_item": (early[-1] - early[0]) / max(len(early) - 1, 1),
        "late_ms_per_item": (late[-1] - late[0]) / max(len(late) - 1, 1),
    }


def transactions() -> int:
    """Transactions the database has counted (every process's: the workers do the work)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


async def ameasure(size: int, pids: list[int], timeout: float) -> dict[str, Any]:
    """One foreach of ``size`` integers: items/s, the workers' RSS, the marginal cost per item."""
    from bench import workflows
    from bench.measure import MemorySampler, load_average
    from bench.suite import atimed_run

    load, committed = load_average(), await sync_to_async(transactions)()
    with MemorySampler(pids, interval=SAMPLE_SECONDS) as sampler:
        elapsed, run = await asyncio.wait_for(
            atimed_run(workflows.fan_out, "evented", list(range(size))), timeout
        )
    first, last = sampler.quarter_medians()
    first_peak, last_peak = sampler.quarter_peaks()
    committed = await sync_to_async(transactions)() - committed
    result = {
        "items": size,
        "seconds": elapsed,
        "items_per_s": size / elapsed,
        "rss_first_quarter_mb": first,
        "rss_last_quarter_mb": last,
        "rss_first_quarter_peak_mb": first_peak,
        "rss_last_quarter_peak_mb": last_peak,
        "rss_mb_by_twentieth": [
            round(value, 1) for _, value in sampler.samples[:: max(len(sampler.samples) // 20, 1)]
        ],
        "transactions_per_item": committed / size,
        **await amarginal(run.run_id, workflows.FOREACH_CONCURRENCY),
        "load_before": load,
        "load_after": load_average(),
    }
    await workflows.fan_out.adelete_run(run.run_id)  # the next size starts on tables of the same size
    return result


async def asizes(sizes: list[int], pids: list[int], timeout: float) -> dict[str, Any]:
    from bench import workflows
    from bench.suite import atimed_run

    await atimed_run(workflows.fan_out, "evented", list(range(100)))  # warm the workers and connections
    runs = []
    for size in [*sizes, sizes[0]]:
        began = time.strftime("%H:%M:%S", time.gmtime())
        runs.append({"began_utc": began, **await ameasure(size, pids, timeout)})
        print(json.dumps(runs[-1]), flush=True)
    return {"runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one foreach may take")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from bench.cluster import Workers
    from bench.suite import worker_env

    with Workers(args.workers, worker_env()) as workers:
        results = asyncio.run(asizes(args.sizes, workers.pids, args.timeout))
    results["workers"] = args.workers
    with open(args.out, "w") as out:
        json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
