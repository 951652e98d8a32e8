"""Who works on a run now: the workers of this process, and the heartbeats of the others.

A lease alone does not say it: a killed worker's lease outlives it by up to
``lease_seconds``. Restart asks this before it hands a run's work out again, so
that no step of the run runs twice at once.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..core.storage import Storage


class LocalWorker(Protocol):
    """A worker of this process, as far as holding a run goes."""

    def works_on(self, run_id: str) -> bool: ...


# The workers of this process by id: whether one of them works on a run is known here, not guessed.
LOCAL_WORKERS: weakref.WeakValueDictionary[str, LocalWorker] = weakref.WeakValueDictionary()


async def aholders(storage: Storage, run_id: str, heartbeat_seconds: float) -> list[str]:
    """The live workers working on the run now: each holds a lease on one of its tasks.

    A worker of this process counts while it runs the task (one that let it go,
    as ``testing.acrash`` does, is as good as dead); another process's worker
    counts while its heartbeat is fresh (three beats). Restart is refused while
    this is not empty: the run would have its steps run twice at once.
    """
    owners = await storage.aholders(run_id)
    if not owners:
        return []
    since = datetime.now(UTC) - timedelta(seconds=3 * heartbeat_seconds)
    alive = {str(row["worker"]) for row in await storage.alive_workers(since)}
    holding = []
    for owner in sorted(owners):
        here = LOCAL_WORKERS.get(owner)
        if here.works_on(run_id) if here is not None else owner in alive:
            holding.append(owner)
    return holding
