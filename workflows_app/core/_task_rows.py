"""The task queue's records: the row a commit writes, the claim a worker holds, a lost lease.

Apart from :mod:`.storage` because they are the queue's vocabulary, shared by
the engines that write and claim rows and the storages that keep them; the
invariants of the queue itself are in :mod:`.storage`'s docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .limits import NO_GATE, Gate

TASK_QUEUED = "queued"
TASK_RUNNING = "running"
TASK_CANCELED = "canceled"
# Kinds of task rows besides the plan's tasks (steps and helpers, named by their key).
CALLBACKS = "callbacks"
TIMER = "timer"
MATCH = "match"  # a step that suspended on an event looks for one sent before it waited


@dataclass(frozen=True)
class TaskRow:
    """A task row a commit writes: work the run is owed from that commit on.

    ``handout`` tells two hand-outs of one key apart (a loop iteration, a retry,
    a resume). The row is due ``delay_ms`` after the commit, on the database's
    clock. With ``owner`` set, the commit claims it for that worker at once
    (lease number 1): the worker that applied the commit runs it next, with no
    claim query and no doorbell. A row with a ``gate`` is claimed only while its
    limit has room (see :mod:`.limits`), so no commit claims it for its committer.
    """

    key: str
    handout: int
    kind: str
    queue: str
    delay_ms: int = 0
    owner: str = ""
    lease_ms: int = 0
    gate: Gate = NO_GATE

    def claimed(self, run_id: str) -> Claim:
        return Claim(run_id=run_id, key=self.key, handout=self.handout, kind=self.kind, lease=1)


@dataclass(frozen=True)
class Claim:
    """A task row a worker holds. Its lease number fences everything it does with the row."""

    run_id: str
    key: str
    handout: int
    kind: str
    lease: int
    deliveries: int = 0
    limited: bool = False  # its row counts against a limit: its end frees a slot

    @property
    def fence(self) -> tuple[str, str, int, int]:
        return (self.run_id, self.key, self.handout, self.lease)


class LeaseLost(Exception):  # noqa: N818 - a condition the engine handles, not an error users see
    """Some claims a commit completes are no longer held: nothing was written."""

    def __init__(self, lost: Sequence[Claim]) -> None:
        super().__init__(f"{len(lost)} claim(s) lost")
        self.lost = list(lost)
