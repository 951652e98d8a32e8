"""Running evented-engine workers in a Django process (``manage.py workflows_worker``)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from contextlib import suppress

from .core import runtime
from .engines.evented import EventedEngine
from .engines.worker import Worker

logger = logging.getLogger(__name__)


def build_worker(concurrency: int | None = None, workflows: Sequence[str] | None = None) -> Worker:
    """A worker on the evented engine configured by the ``WORKFLOWS`` settings.

    ``workflows`` limits it to those workflow ids (default: every workflow
    registered in this process); it claims nothing of the others.
    """
    engine = runtime.get_engine("evented")
    if not isinstance(engine, EventedEngine):
        raise TypeError("The evented engine is not an EventedEngine")
    capacity = concurrency or int(engine.options["worker_concurrency"])
    return Worker(engine, name="worker", capacity=capacity, workflows=workflows)


async def arun_worker(
    concurrency: int | None = None, *, grace_seconds: float = 10.0, workflows: Sequence[str] | None = None
) -> None:
    """Run one worker until SIGINT or SIGTERM, then let running steps finish for a while.

    What is still running after ``grace_seconds`` goes back to the queue for
    another worker (see :meth:`Worker.adrain`).
    """
    worker = build_worker(concurrency, workflows)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    logger.info("Workflow worker %s started (concurrency %d)", worker.id, worker.capacity or 0)
    main = asyncio.ensure_future(worker.arun())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not main.done():
        logger.info(
            "Worker %s stopping; waiting up to %.0f s for %d running steps",
            worker.id,
            grace_seconds,
            len(worker.held),
        )
        await worker.adrain(grace_seconds)
        main.cancel()
        with suppress(asyncio.CancelledError):
            await main
