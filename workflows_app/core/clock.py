"""The time ``plan`` is told: epoch milliseconds, as in the event protocol."""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)


def active_ms(started_at: int, end: int, *, suspended_at: int | None, resumed_at: int | None) -> int:
    """How long a step worked between ``started_at`` and ``end``, the time it sat suspended left out.

    A step keeps its latest suspension: suspended now (no ``resumed_at`` after
    ``suspended_at``), it worked until it suspended; resumed, the pause between
    the two does not count. A step waiting hours for a reviewer did not take hours.
    """
    if suspended_at is None or suspended_at < started_at:
        return max(0, end - started_at)
    if resumed_at is not None and resumed_at >= suspended_at:
        return max(0, end - started_at - (resumed_at - suspended_at))
    return max(0, suspended_at - started_at)
