"""The large run inputs this process has read, so that reading their run again leaves them out.

A run's input is written once, by the commit that creates the run, and never
changed. Yet a worker reads the run for every task it claims and for every
commit another commit overtook: for a foreach over a run's input of 100,000
items (a 700 KB list), that was the whole list sent and parsed again for every
item, 15-30 ms each on PostgreSQL, so an item's cost grew with the foreach.

A read names the ``created_at`` of the run whose input it holds; the database
leaves the input out only if that is still the run's, so a run deleted and
created again under the same id is read in full. Records share the held value
(as the records a commit hands to the next task already do): nothing in the
engine changes a run's input in place. Only inputs of :data:`LARGE` bytes of
JSON or more are held, at most :data:`BUDGET` bytes of them, the least recently
read going first: reading a small input again costs about nothing.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LARGE = 8 * 1024
BUDGET = 16 * 1024 * 1024  # of JSON; the parsed values take a few times that


@dataclass(frozen=True)
class Held:
    """A run's input as read, and the ``created_at`` that tells its run from a later one."""

    created_at: datetime
    value: Any
    size: int


class RunInputs:
    """Inputs by run id, bounded by their JSON size (asgiref's thread and others may read)."""

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self._held: OrderedDict[str, Held] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, run_id: str) -> Held | None:
        with self._lock:
            held = self._held.get(run_id)
            if held is not None:
                self._held.move_to_end(run_id)
            return held

    def input_of(self, run_id: str, held: Held | None, created_at: datetime, stored: Any) -> Any:
        """The input of the run read with ``held`` in hand: held, or ``stored`` (its JSON) parsed."""
        if held is not None and held.created_at == created_at:
            return held.value  # the database left it out
        text = stored.decode() if isinstance(stored, bytes) else stored
        if not isinstance(text, str):  # NULL, or a driver that parses JSON itself
            return text
        value = json.loads(text)
        if len(text) >= LARGE:
            self._hold(run_id, Held(created_at, value, len(text)))
        return value

    def _hold(self, run_id: str, held: Held) -> None:
        with self._lock:
            old = self._held.pop(run_id, None)
            self._size -= old.size if old is not None else 0
            if held.size > self.budget:
                return
            self._held[run_id] = held
            self._size += held.size
            while self._size > self.budget:
                _, dropped = self._held.popitem(last=False)
                self._size -= dropped.size


INPUTS = RunInputs()
