"""A process's own worker outlives the request that first needed it.

Sync code (a sync view, the admin, a management command) that a long-lived loop
runs in a thread calls the engine through ``async_to_sync``, which runs the call
on that long-lived loop (an ASGI server's, here the test's). A worker started
there must not keep the calling thread's executor, which stops with the call:
its database calls would fail from then on ("CurrentThreadExecutor already quit")
and no run of the process would move again.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connections

from workflows_app import create_step, create_workflow
from workflows_app.core import runtime

pytestmark = pytest.mark.django_db(transaction=True)


def _add_one(ctx: Any) -> Any:
    return {"n": ctx.input_data["n"] + 1}


counting = create_workflow("worker-host-counting").then(create_step("add-one", execute=_add_one)).commit()


@pytest.mark.parametrize("engine", ["default", "evented"])
async def test_a_worker_first_started_by_sync_code_serves_later_runs(engine: str) -> None:
    def sync_caller() -> str:
        try:
            run = counting.create_run(engine=engine)
            run.start({"n": 1})
            return run.run_id
        finally:
            connections.close_all()  # as Django does when a request ends

    async with ThreadSensitiveContext():  # as Django's ASGI handler runs a sync view
        await sync_to_async(sync_caller)()  # the call, and its thread's executor, end here

    later = await counting.acreate_run(engine=engine)
    result = await asyncio.wait_for(later.astart({"n": 41}), timeout=30)
    assert result.status == "success" and result.result == {"n": 42}
    assert (await later.aresult()).status == "success"


@pytest.mark.parametrize("engine", ["default", "evented"])
async def test_a_worker_that_ended_is_replaced_when_work_comes(engine: str) -> None:
    first = await counting.acreate_run(engine=engine)
    assert (await asyncio.wait_for(first.astart({"n": 1}), timeout=30)).status == "success"
    workers = [task for task in asyncio.all_tasks() if task.get_coro().__qualname__ == "Worker.arun"]
    assert workers, "the run was driven by this process's worker"
    for task in workers:  # as a crash of the worker would end it
        task.cancel()
    await asyncio.wait(workers)
    await _until_no_worker_looks_alive(runtime.get_engine(engine))

    later = await counting.acreate_run(engine=engine)
    result = await asyncio.wait_for(later.astart({"n": 41}), timeout=30)
    assert result.status == "success" and result.result == {"n": 42}


async def _until_no_worker_looks_alive(engine: Any) -> None:
    """On a bus that crosses processes, the ended worker counts as alive until its heartbeat lapses."""
    if engine.bus.local:
        return
    lapse = timedelta(seconds=3 * float(engine.options["heartbeat_seconds"]))
    deadline = time.monotonic() + 30
    while await engine.storage.alive_workers(datetime.now(UTC) - lapse):
        assert time.monotonic() < deadline, "the ended worker still looks alive"
        await asyncio.sleep(0.2)
