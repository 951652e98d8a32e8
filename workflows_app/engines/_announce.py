"""After a commit: its events to listeners, doorbells for queued work, cancellations to workers.

Everything announced is already committed, so an announcement that fails only
delays work: workers find it when they poll, listeners when they read the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync

from ..core import lifecycle, tracing
from ..core.bus import Bus
from ..core.hub import hub
from ..core.plan import TERMINAL
from .limits import frees_slot

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ._commits import Committed
    from .worker import Worker

logger = logging.getLogger(__name__)

_DOORBELLS_PER_COMMIT = 8
_background: set[asyncio.Task[None]] = set()


def publish(bus: Bus, committed: Committed) -> None:
    """Send the commit's events to this process's listeners and, through the bus, to the others."""
    events = [
        {**event, "seq": seq} for event, seq in zip(committed.decision.events, committed.seqs, strict=True)
    ]
    for event in events:
        hub.publish(committed.run_id, event)
    if events and not bus.local:
        task = asyncio.ensure_future(apublish(bus, committed.run_id, events))
        _background.add(task)
        task.add_done_callback(_background.discard)


async def apublish(bus: Bus, run_id: str, events: list[dict[str, Any]]) -> None:
    try:
        await bus.apublish(run_id, events)
    except Exception:  # fan-out is best effort: the log has the events
        logger.exception("Could not fan out events of run %s", run_id)


async def aannounce(bus: Bus, workers: Iterable[Worker], committed: Committed) -> None:
    """Doorbells for queued work, local wake-ups for timers, cancellations to workers."""
    for worker in workers:
        if committed.decision.cancels:
            worker.on_cancel(committed.run_id)
        queues = set(worker.queues)
        for row in committed.queued:
            if row.queue in queues:
                worker.wake_in(row.delay_ms)
    ready = sum(1 for row in committed.queued if not row.delay_ms)
    if committed.decision.record is not None and committed.decision.record.status in TERMINAL:
        tracing.run_ended(committed.decision.record)
    if frees_slot(committed.decision):  # runs held back by their workflow's limit may start now
        ready += 1
        for worker in workers:
            worker.wake()
    try:
        if committed.decision.cancels:
            await bus.abroadcast({"type": "cancel", "run_id": committed.run_id})
        for _ in range(min(ready, _DOORBELLS_PER_COMMIT)):
            await bus.asend({"type": "wake"})
    except Exception:  # committed already: workers find the work when they poll
        logger.exception("Could not ring for the work of run %s; workers will find it", committed.run_id)


def ring_from_thread(
    bus: Bus,
    loops: Iterable[tuple[Worker, asyncio.AbstractEventLoop]],
    workflow: WorkflowDefinition,
    committed: Committed,
) -> None:
    """After the caller's commit, from its thread: wake the workers of this process, ring the rest."""
    for worker, loop in loops:
        if loop.is_closed():
            continue
        for row in committed.queued:
            if row.queue in worker.queues:
                loop.call_soon_threadsafe(worker.wake_in, row.delay_ms)
    ready = sum(1 for row in committed.queued if not row.delay_ms)
    try:
        if workflow.on_start is not None and committed.decision.record is not None:
            async_to_sync(lifecycle.astarted)(workflow, committed.decision.record)
        if not bus.local:
            for _ in range(min(ready, _DOORBELLS_PER_COMMIT)):
                async_to_sync(bus.asend)({"type": "wake"})
    except Exception:  # committed already: workers find the work when they poll
        logger.exception("Could not ring for the work of run %s; workers will find it", committed.run_id)
