"""The per-user start rate limit (``WORKFLOWS["START_RATE_LIMIT"]``, e.g. ``"100/hour"``).

The runs table is the log the limit counts: a user may start N runs in any
window of the given length, counted from the runs they started (``started_by``,
``created_at``, one index). Nothing else to store, and every process, every
web server and every worker, sees the same count. Two starts that race may both
pass the last free place: a limit of N lets through N plus the starts in flight.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .conf import workflow_settings
from .models import WorkflowRun

__all__ = ["astart_retry_after", "parse_rate", "rate_limited_message"]

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"N/period"`` (second, minute, hour, day) as (N, seconds); ValueError when it is not one."""
    count, _, period = str(rate).partition("/")
    if not count.strip().isdigit() or int(count) < 1 or period.strip() not in PERIODS:
        raise ValueError(f"{rate!r} is not a rate such as '100/hour' (periods: {', '.join(PERIODS)})")
    return int(count), PERIODS[period.strip()]


async def astart_retry_after(user: Any) -> int | None:
    """Seconds until ``user`` may start another run, or ``None`` when they may now."""
    rate = workflow_settings.START_RATE_LIMIT
    if rate is None:
        return None
    count, seconds = parse_rate(rate)
    now = timezone.now()
    window = timedelta(seconds=seconds)
    recent = (
        WorkflowRun.objects.filter(started_by=user, created_at__gt=now - window)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
    )
    starts = [created async for created in recent[:count]]
    if len(starts) < count:
        return None
    # The oldest of the last N starts leaves the window first; then one place is free.
    return max(1, math.ceil((starts[-1] + window - now).total_seconds()))


def rate_limited_message(retry_after: int) -> str:
    """What a refused start says, in the API and the admin alike."""
    rate = workflow_settings.START_RATE_LIMIT
    return f"You started as many runs as allowed ({rate}); try again in {retry_after} s."
