"""Waiting for a run: its live events, and its status once it settled and its callbacks ran."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from ..core.bus import Bus
from ..core.errors import RunNotFoundError
from ..core.hub import hub
from ..core.plan import ACTIVE
from ..core.storage import CALLBACKS, Storage

logger = logging.getLogger(__name__)

SETTLING_EVENTS = frozenset(
    {"workflow-finish", "workflow-step-suspended", "workflow-paused", "workflow-canceled"}
)
_SETTLED_CHECK_SECONDS = 1.0


@contextlib.asynccontextmanager
async def watching(bus: Bus, run_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """The run's live events, from this process's hub and, across processes, from the bus.

    Events that arrive through the bus are handed to the hub too: streams in
    this process (``run.astream()``) listen there. If the bus cannot be
    reached, the hub and reading the run are enough: waiting only gets slower.
    """
    live, unsubscribe = hub.queue(run_id)
    relay: asyncio.Task[None] | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            if not bus.local:
                try:
                    remote = await stack.enter_async_context(bus.watch(run_id))
                    relay = asyncio.ensure_future(_relay(run_id, remote))
                except Exception:
                    logger.warning("Cannot watch run %s on the bus; reading the database instead", run_id)
            yield live
    finally:
        if relay is not None:
            relay.cancel()
        unsubscribe()


async def await_settled(storage: Storage, run_id: str, live: asyncio.Queue[dict[str, Any]]) -> str:
    """The run's status once it settled and its callbacks ran.

    Read when an event that may settle the run arrives, and now and then in
    case the announcement was lost.
    """
    while True:
        record = await storage.aget_run(run_id)
        if record is None:
            raise RunNotFoundError(f"Workflow run {run_id!r} not found")
        if record.status not in ACTIVE and not await storage.aowes(run_id, (CALLBACKS,)):
            return record.status
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_SETTLED_CHECK_SECONDS):
                while (await live.get()).get("type") not in SETTLING_EVENTS:
                    pass


async def _relay(run_id: str, remote: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        hub.publish(run_id, await remote.get())
