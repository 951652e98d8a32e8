"""In-process fan-out of committed run events to live listeners.

Best-effort by design: the event log in storage is the truth, and a listener
that needs every event replays the log after its last ``seq`` (see
:func:`workflows_app.core.run.Run.aevents`). Engines publish here after commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], Any]


class EventHub:
    """Listeners by run id; ``"*"`` listens to every run."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._pending: set[asyncio.Future[Any]] = set()

    def subscribe(self, run_id: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for each event of the run; returns the unsubscribe function."""
        self._listeners[run_id].append(listener)

        def unsubscribe() -> None:
            listeners = self._listeners.get(run_id, [])
            if listener in listeners:
                listeners.remove(listener)
            if not listeners:
                self._listeners.pop(run_id, None)

        return unsubscribe

    def queue(self, run_id: str) -> tuple[asyncio.Queue[dict[str, Any]], Callable[[], None]]:
        """A queue that receives the run's events, and its unsubscribe function."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        return queue, self.subscribe(run_id, queue.put_nowait)

    def publish(self, run_id: str, event: dict[str, Any]) -> None:
        for key in (run_id, "*"):
            for listener in list(self._listeners.get(key, ())):
                try:
                    result = listener(event)
                    if asyncio.iscoroutine(result):
                        future = asyncio.ensure_future(result)
                        self._pending.add(future)
                        future.add_done_callback(self._pending.discard)
                except Exception:
                    logger.exception("Run event listener failed for run %s", run_id)


hub = EventHub()
