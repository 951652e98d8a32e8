"""Waits and kept events in the database (the core's ``Storage`` events methods).

Waits are written inside the commit that changed them (:func:`write_waits`), so
the index and the run state it mirrors change together. Taking a kept event is
one conditional UPDATE whose row count is checked: two runs racing for it, one
wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q

from ..core.clock import now_ms
from ..core.storage import SentEvent as SentEventRecord
from ..models import EventWait, SentEvent


def write_waits(run_id: str, waits: Sequence[Sequence[Any]] | None) -> None:
    """Replace the run's waits with ``waits`` (``[task key, name, key]`` each); ``None``: unchanged."""
    if waits is None:
        return
    EventWait.objects.filter(run_id=run_id).delete()
    EventWait.objects.bulk_create(
        [EventWait(run_id=run_id, task_key=task, name=name, key=key) for task, name, key in waits]
    )


def waiting_runs(name: str, key: str | None) -> list[str]:
    rows = (
        EventWait.objects.filter(name=name, key=key)
        if key is not None
        else EventWait.objects.filter(name=name, key__isnull=True)
    )
    return list(dict.fromkeys(rows.order_by("id").values_list("run_id", flat=True)))


def keep_event(event: SentEventRecord, keep_ms: int, now: int | None) -> SentEventRecord:
    now = now if now is not None else now_ms()
    SentEvent.objects.filter(expires_at__lte=now).delete()
    row = SentEvent.objects.create(
        name=event.name,
        key=event.key,
        run_id=event.run_id,
        data=event.data,
        sent_at=now,
        expires_at=now + keep_ms,
    )
    return _record(row)


def kept_events(
    run_id: str, waits: Sequence[tuple[str, str | None]], now: int | None
) -> list[SentEventRecord]:
    now = now if now is not None else now_ms()
    names = {name for name, _ in waits}
    match = Q(run_id=run_id, name__in=names)
    for name, key in waits:
        match |= (
            Q(run__isnull=True, name=name, key=key)
            if key is not None
            else Q(run__isnull=True, name=name, key__isnull=True)
        )
    rows = SentEvent.objects.filter(match, Q(taken_by__isnull=True) | Q(taken_by=run_id), expires_at__gt=now)
    return [_record(row) for row in rows.order_by("id")]


def take_event(event_id: int, run_id: str) -> bool:
    taken = SentEvent.objects.filter(Q(taken_by__isnull=True) | Q(taken_by=run_id), pk=event_id).update(
        taken_by=run_id
    )
    return taken == 1


def release_event(event_id: int, run_id: str) -> None:
    SentEvent.objects.filter(pk=event_id, taken_by=run_id).update(taken_by=None)


def _record(row: SentEvent) -> SentEventRecord:
    return SentEventRecord(
        name=row.name,
        data=row.data,
        key=row.key,
        run_id=row.run_id,
        id=row.pk,
        sent_at=row.sent_at,
        expires_at=row.expires_at,
        taken_by=row.taken_by,
    )
