"""The events part of :class:`~workflows_app.core.memory.InMemoryStorage`: waits and kept events.

Kept apart from the queue and the runs because it is a concept of its own: which
runs wait on which event, and the events sent before anyone waited on them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .storage import SentEvent


class EventsInMemory:
    """Waits (an index of the run states) and kept events, in dicts."""

    clock: Callable[[], int]

    def __init__(self) -> None:
        super().__init__()
        self._waits: dict[str, list[tuple[int, str, str, str | None]]] = {}  # run -> (order, task, name, key)
        self._kept: dict[int, SentEvent] = {}
        self._next_event = 0
        self._next_wait = 0

    def _write_waits(self, run_id: str, waits: Sequence[Sequence[Any]] | None) -> None:
        if waits is None:
            return
        old = {(task, name, key): order for order, task, name, key in self._waits.get(run_id, [])}
        rows = []
        for task, name, key in waits:
            order = old.get((task, name, key))
            if order is None:
                self._next_wait += 1
                order = self._next_wait
            rows.append((order, str(task), str(name), key))
        self._waits[run_id] = rows

    def _forget_run_events(self, run_id: str) -> None:
        self._waits.pop(run_id, None)
        for event_id in [i for i, e in self._kept.items() if e.run_id == run_id]:
            del self._kept[event_id]

    async def awaiting_runs(self, name: str, key: str | None) -> list[str]:
        found = sorted(
            (order, run_id)
            for run_id, rows in self._waits.items()
            for order, _, wanted, wanted_key in rows
            if wanted == name and wanted_key == key
        )
        return list(dict.fromkeys(run_id for _, run_id in found))

    async def akeep_event(self, event: SentEvent, keep_ms: int) -> SentEvent:
        now = self.clock()
        for event_id in [i for i, e in self._kept.items() if e.expires_at <= now]:
            del self._kept[event_id]
        self._next_event += 1
        data = json.loads(json.dumps(event.data))
        kept = replace(event, id=self._next_event, data=data, sent_at=now, expires_at=now + keep_ms)
        self._kept[kept.id] = kept
        return replace(kept)

    async def akept_events(self, run_id: str, waits: Sequence[tuple[str, str | None]]) -> list[SentEvent]:
        now = self.clock()
        names = {name for name, _ in waits}
        pairs = set(waits)
        return [
            replace(event)
            for event in sorted(self._kept.values(), key=lambda e: e.id)
            if event.expires_at > now
            and event.taken_by in (None, run_id)
            and (
                (event.run_id == run_id and event.name in names)
                or (event.run_id is None and (event.name, event.key) in pairs)
            )
        ]

    async def atake_event(self, event_id: int, run_id: str) -> bool:
        event = self._kept.get(event_id)
        if event is None or event.taken_by not in (None, run_id):
            return False
        event.taken_by = run_id
        return True

    async def arelease_event(self, event_id: int, run_id: str) -> None:
        event = self._kept.get(event_id)
        if event is not None and event.taken_by == run_id:
            event.taken_by = None
