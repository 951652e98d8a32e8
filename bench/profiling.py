"""Where the time of the 200-step run goes: cProfile of the event loop and of the ORM thread.

cProfile sees one thread. The ORM storage runs its queries in asgiref's
thread-sensitive executor, so a second profiler is switched on inside that thread
(by a call that runs there) to see the database side as well.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time

from asgiref.sync import sync_to_async

TOP = 30


def _table(profile: cProfile.Profile, title: str, sort: str) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    if not stats.stats:  # type: ignore[attr-defined]
        return f"\n## {title}: nothing ran here\n"
    stats.strip_dirs().sort_stats(sort).print_stats(TOP)
    return f"\n## {title} (sorted by {sort})\n{out.getvalue()}"


async def aprofile_sequential(engine: str, runs: int = 3) -> str:
    """Profile ``runs`` runs of the 200-step workflow after a warm-up run."""
    from bench import workflows
    from bench.suite import atimed_run

    await atimed_run(workflows.sequential, engine, {"n": 0})
    loop_profile, orm_profile = cProfile.Profile(), cProfile.Profile()
    await sync_to_async(orm_profile.enable)()
    began = time.perf_counter()
    loop_profile.enable()
    for _ in range(runs):
        await atimed_run(workflows.sequential, engine, {"n": 0})
    loop_profile.disable()
    elapsed = time.perf_counter() - began
    await sync_to_async(orm_profile.disable)()
    steps = runs * workflows.SEQUENTIAL_STEPS
    head = f"# {engine}: {runs} runs of 200 steps in {elapsed:.2f} s ({elapsed * 1e6 / steps:.0f} us/step)\n"
    return (
        head
        + _table(loop_profile, "event loop thread", "tottime")
        + _table(loop_profile, "event loop thread", "cumulative")
        + _table(orm_profile, "ORM executor thread", "tottime")
        + _table(orm_profile, "ORM executor thread", "cumulative")
    )
