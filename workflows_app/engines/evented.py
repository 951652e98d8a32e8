"""The evented engine: runs move forward by doorbells, executed by worker processes.

The pipeline is the default engine's (:mod:`.base`); the difference is where the
work goes. Every task row goes to its workflow's queue ``evented/<workflow id>``,
claimed by worker processes (``manage.py workflows_worker``) that serve that
workflow, when they have room. A worker that
applies a commit takes the steps it owes for itself, up to its free slots, and
runs them next with no claim query (a sequence of steps costs one commit per step
and nothing else); the rest wait in the queue, with a doorbell on the bus. A
caller (``run.astart()`` in a web process) only commits: its runs' steps are
claimed by workers. With a bus that reaches this process only, or no live worker
and ``INLINE_WHEN_NO_WORKER``, a worker runs inside this process.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..core.errors import WorkflowError
from .base import DefinitionMismatchError, Engine

if TYPE_CHECKING:
    from .worker import Worker

logger = logging.getLogger(__name__)


class NoWorkerError(WorkflowError):
    """No workflow worker is alive: start one with `python manage.py workflows_worker`."""


class EventedEngine(Engine):
    """Steps run in worker processes."""

    name = "evented"
    shared_queue = "evented"

    async def aready(self) -> None:
        """Make sure some worker will pick the work up, or say clearly that none will."""
        if self.bus.local:
            self.embedded_worker()
            return
        since = datetime.now(UTC) - timedelta(seconds=3 * float(self.options["heartbeat_seconds"]))
        if await self.storage.alive_workers(since):
            return
        if not self.options["inline_when_no_worker"]:
            raise NoWorkerError()
        logger.warning("No live workflow worker; running one inside this process")
        self.embedded_worker()

    def embedded_worker(self) -> Worker:
        """A worker inside this process and event loop, started on first need."""
        return self.local_worker(
            name="embedded", capacity=int(self.options["worker_concurrency"]), doorbell=True
        )


__all__ = ["DefinitionMismatchError", "EventedEngine", "NoWorkerError"]
