"""Sending an event by name to every run that waits on it (see :mod:`._delivery` for how it arrives)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from . import runtime
from ._delivery import adeliver, check_event, event_data, retention_ms, waiting_keys
from .payloads import plain
from .run import acreate_run
from .storage import SentEvent


async def asend_event(name: str, data: Any = None, *, key: str | None = None) -> list[str]:
    """Send an event to every run waiting on ``name`` and ``key``; the ids of the runs it resumed.

    When no run waits on it yet, it is kept (``EVENT_RETENTION_SECONDS``) for the
    first run that suspends on it. Data is validated for every waiting run
    before any is resumed.
    """
    check_event(name, key)
    data = plain(data, what="the event data")
    storage = runtime.get_storage()
    runs = []
    for run_id in await storage.awaiting_runs(name, key):
        record = await storage.aget_run(run_id)
        if record is None:
            continue
        run = await acreate_run(runtime.get_workflow(record.workflow_id), run_id=run_id)
        keys = waiting_keys(record.run_state, name, key)
        if keys:
            event_data(run.workflow, record.run_state, keys, data)
            runs.append(run)
    kept = await storage.akeep_event(
        SentEvent(name=name, data=data, key=key), retention_ms(runtime.get_engine())
    )
    resumed = [run.run_id for run in runs if await adeliver(run, kept, take=False)]
    if resumed:
        await storage.atake_event(kept.id, resumed[0])
    return resumed


def send_event(name: str, data: Any = None, *, key: str | None = None) -> list[str]:
    """The sync twin of :func:`asend_event`."""
    return async_to_sync(asend_event)(name, data, key=key)
