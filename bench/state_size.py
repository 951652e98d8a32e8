"""How big is the stored run state, and what does one item cost, as a foreach or a loop grows?

    .venv/bin/python -m bench.state_size [--sizes 10 100 1000 10000] [--engine default]

On a fresh SQLite database (or ``--database-url``): for each size n, a foreach
over n integers (concurrency 1) whose last item suspends, and a dowhile of n
iterations whose last iteration suspends. Prints the stored ``run_state`` JSON
size of each once it suspended, and the milliseconds per item or iteration
(from the start until it suspended), in wall-clock and in this process's CPU
time (steadier on a shared machine), and the median gap between items 10-59
and over the last 50 items (the marginal cost of an item early and late, as
``bench/run.py`` measures a loop). A bounded state is about as big after
10,000 items as after 10, and an item costs about the same at 1,000 as at 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parents[1]
STAMPS: list[float] = []  # when each item or iteration ran (the default engine runs steps in this process)


def _workflows(size: int) -> tuple[Any, Any]:
    from workflows_app import StepContext, create_step, create_workflow

    async def item(ctx: StepContext) -> int:
        STAMPS.append(time.perf_counter())
        if ctx.input_data == size - 1 and ctx.resume_data is None:
            await ctx.suspend({"last": True})
        return int(ctx.input_data) + 1

    async def tick(ctx: StepContext) -> dict[str, int]:
        STAMPS.append(time.perf_counter())
        n = ctx.input_data["n"] + 1
        if n == size and ctx.resume_data is None:
            await ctx.suspend({"last": True})
        return {"n": n}

    async def more(ctx: StepContext) -> bool:
        return bool(ctx.input_data["n"] < size)

    each = create_workflow(id=f"state-foreach-{size}").foreach(create_step(id="item", execute=item)).commit()
    loop = create_workflow(id=f"state-loop-{size}").dowhile(create_step(id="tick", execute=tick), more)
    return each, loop.commit()


async def ameasure(workflow: Any, data: Any, count: int, engine: str) -> dict[str, Any]:
    from workflows_app.models import WorkflowRun

    run = await workflow.acreate_run(engine=engine)
    STAMPS.clear()
    began, cpu = time.perf_counter(), time.process_time()
    result = await run.astart(data)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    if result.status != "suspended":
        raise RuntimeError(f"{workflow.id} ended {result.status}: {result.error}")
    stored = await WorkflowRun.objects.aget(pk=run.run_id)
    size = len(json.dumps(stored.run_state, separators=(",", ":")))
    await workflow.adelete_run(run.run_id)
    gaps = [later - earlier for earlier, later in itertools.pairwise(STAMPS)]
    per_item = {
        "ms_per_item": round(1000 * seconds / count, 3),
        "cpu_ms_per_item": round(1000 * cpu / count, 3),
        # Items 10-59 against the last 50 (a small foreach: its first and last halves).
        "early_item_ms": round(
            1000 * statistics.median(gaps[9:59] if count > 100 else gaps[: len(gaps) // 2 + 1]), 3
        ),
        "last_items_ms": round(
            1000 * statistics.median(gaps[-50:] if count > 100 else gaps[len(gaps) // 2 :]), 3
        ),
    }
    return {"state_bytes": size, **per_item}


async def amain(sizes: list[int], engine: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for size in sizes:
        each, loop = _workflows(size)
        results[f"foreach_{size}"] = await ameasure(each, list(range(size)), size, engine)
        results[f"loop_{size}"] = await ameasure(loop, {"n": 0}, size, engine)
        print(f"{size:>6}: {results[f'foreach_{size}']}  loop {results[f'loop_{size}']}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--engine", default="default")
    parser.add_argument("--database-url")
    options = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="state-size-")
    url = options.database_url or f"sqlite:///{scratch}/db.sqlite3"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings", DATABASE_URL=url, LOG_LEVEL="WARNING", DEBUG="0"
    )
    os.environ.setdefault("SECRET_KEY", "state-size-bench-" + "x" * 40)
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, check=True)
    django.setup()
    print(json.dumps(asyncio.run(amain(options.sizes, options.engine)), indent=2))


if __name__ == "__main__":
    main()
