"""The default engine: a run's steps run in the process that moves it forward.

The pipeline is the evented engine's (:mod:`.base`); the difference is where the
work goes. Every step a commit owes is claimed in that commit by this process's
worker (one per event loop, with no limit on how many steps it runs at once) and
runs here as an asyncio task. Timers, callbacks and looks for kept events go to
the workflow's shared queue ``default/<workflow id>``, so that any process
serving that workflow on the default engine fires a sleep whose process died,
or calls the callbacks of a run whose process died after settling.
Steps whose process died wait for ``run.arestart()``, which hands them to the
caller's process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.limits import ADMIT
from ..core.storage import CALLBACKS, MATCH, TIMER
from .base import Committer, Engine

if TYPE_CHECKING:
    from ._pipeline import Served
    from .worker import Worker


class DefaultEngine(Engine):
    """Steps run in the calling process."""

    name = "default"
    shared_queue = "default"

    def queue_for(self, kind: str, committer: Committer, workflow_id: str) -> str:
        if kind in (TIMER, CALLBACKS, MATCH, ADMIT) or committer is self.caller:
            # A caller claims nothing (``run.enqueue()`` inside a transaction): any
            # worker of this engine serving the workflow takes the work from its queue.
            return self.queue_of(workflow_id)
        return _private_queue(committer.id)

    def committer(self) -> Committer:
        return self.worker()

    def worker_queues(self, worker: Served) -> list[str]:
        return [_private_queue(worker.id), *super().worker_queues(worker)]

    def worker(self) -> Worker:
        return self.local_worker(name="local", capacity=None, doorbell=False)

    async def aready(self) -> None:
        """Always ready: the steps run in this process."""
        self.worker()


def _private_queue(worker_id: str) -> str:
    return f"default:{worker_id}"


__all__ = ["DefaultEngine"]
