"""How the admin shows a run's values: times, durations, JSON, statuses and the timeline.

Stored times are epoch milliseconds (the event protocol's unit); an operator
reads them as a local date and time with how long ago it was. A step's duration
counts the time it worked, not the time it sat suspended waiting for a human.
JSON is shown as JSON (never Python's repr), indented, with long lines and long
documents folded so one large output does not bury the page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from .core import clock
from .core.clock import now_ms
from .core.limits import ADMIT, user_key
from .core.mapping import short_label
from .core.plan import OPEN
from .core.storage import StepRecord

FOLD_CHARS = 160  # a longer line shows its start, the rest behind a click
FOLD_LINES = 24  # a longer document shows its first lines, the rest behind a click
TIMELINE_BARS = 200  # a run with more attempt rows shows its first ones on the timeline


def local_time(ms: int | None) -> SafeString:
    """``ms`` as a date and time in the current time zone, and how long ago, in a ``<time>``.

    The page's script rewrites the text in the browser's own time zone and keeps
    the relative part current; without it the server's zone (``TIME_ZONE``) shows.
    """
    if ms is None:
        return mark_safe("")
    moment = timezone.localtime(datetime.fromtimestamp(ms / 1000, tz=UTC))
    return format_html(
        '<time class="wf-time" datetime="{}" data-ms="{}">{}</time> <span class="wf-ago">{}</span>',
        moment.isoformat(timespec="milliseconds"),
        ms,
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        relative(ms),
    )


def relative(ms: int, now: int | None = None) -> str:
    """How long ago ``ms`` was (or how long until it), in the largest whole unit."""
    delta = (now_ms() if now is None else now) - ms
    seconds = abs(delta) // 1000
    if seconds < 2:
        return "just now"
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"{text} ago" if delta > 0 else f"in {text}"
    return "just now"


def duration(ms: int | None) -> str:
    """A duration for reading: ``340 ms``, ``2.5 s``, ``3 min 4 s``, ``2 h 5 min``."""
    if ms is None:
        return ""
    if ms < 1_000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(ms // 1000, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def active_ms(row: StepRecord, now: int | None = None) -> int | None:
    """How long the step worked, to its end or to now (:func:`workflows_app.core.clock.active_ms`)."""
    if row.started_at is None:
        return None
    end = row.ended_at if row.ended_at is not None else (now_ms() if now is None else now)
    return clock.active_ms(row.started_at, end, suspended_at=row.suspended_at, resumed_at=row.resumed_at)


def limit_waits(gated: Sequence[dict[str, Any]], run_state: dict[str, Any]) -> list[str]:
    """What holds a run back, in words: the limits its queued gated task rows wait on.

    A row waits on a limit that has no room; a row of a limit with room is
    claimed at the next poll, so every gated row still queued is worth a line.
    """
    tasks = run_state.get("tasks") or {}
    lines = []
    for row in gated:
        bounds = [f"{row['limit_n']} at once"] if row["limit_n"] else []
        if row["rate_n"]:
            bounds.append(f"{row['rate_n']} per {row['rate_ms'] / 1000:g} s")
        if row["kind"] == ADMIT:
            key = user_key(row["limit_key"])
            lines.append(
                f"Waiting for a slot of its workflow's limit ({', '.join(bounds)}"
                + (f", key {key!r})" if key else ")")
            )
        else:
            path = (tasks.get(row["key"]) or {}).get("path", row["key"])
            lines.append(f"Step {path} waits on its limit ({', '.join(bounds)})")
    return lines


def shown_status(status: str, run_status: str) -> str:
    """A step's status as the admin shows it: a step left live in a canceled run is canceled.

    Cancel ends the run at once; a row a worker had not yet closed (a sleep, a
    suspended step) would otherwise read "waiting" on a run nothing will move.
    """
    return "canceled" if run_status == "canceled" and status in OPEN else status


def shown_rows(rows: Sequence[StepRecord], run_status: str) -> list[StepRecord]:
    """``rows`` with :func:`shown_status` applied, for every view of the run page."""
    return [
        row if shown_status(row.status, run_status) == row.status else replace(row, status="canceled")
        for row in rows
    ]


def short_path(path: str) -> str:
    """A dotted step path with each generated id shortened (see :func:`short_label`)."""
    return ".".join(short_label(part) for part in path.split("."))


def json_html(value: Any) -> SafeString:
    """``value`` as indented JSON in a ``<pre>``, long lines and long documents folded."""
    if value is None:
        return mark_safe("")
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        text = "(too deeply nested to show)"
    lines = [_fold_line(line) for line in text.split("\n")]
    if len(lines) > FOLD_LINES:
        rest = "\n".join(lines[FOLD_LINES:])
        head = "\n".join(lines[:FOLD_LINES])
        body = (
            f'{head}\n<details class="wf-fold"><summary>{len(lines) - FOLD_LINES} more lines</summary>'
            f"{rest}</details>"
        )
    else:
        body = "\n".join(lines)
    return mark_safe(f'<pre class="wf-pre wf-json">{body}</pre>')  # noqa: S308 - every part escaped


def _fold_line(line: str) -> str:
    if len(line) <= FOLD_CHARS:
        return str(escape(line))
    hidden = len(line) - FOLD_CHARS
    return (
        f"{escape(line[:FOLD_CHARS])}"
        f'<details class="wf-fold wf-fold-inline"><summary>… {hidden:,} more characters</summary>'
        f"{escape(line[FOLD_CHARS:])}</details>"
    )


@dataclass(frozen=True)
class Bar:
    """One attempt row on the run's timeline, placed in percent of the run's span."""

    path: str
    label: str
    status: str
    left: float
    width: float
    pause_left: float  # the suspended part, inside the bar (0 wide when never suspended)
    pause_width: float
    title: str


def timeline(rows: Sequence[StepRecord], now: int | None = None) -> list[Bar]:
    """A bar per attempt row (loop iterations and retries each their own), in start order.

    Rows of single foreach items are left out (the foreach step's own row spans
    them); so are rows that never started.
    """
    now = now_ms() if now is None else now
    started = sorted(
        (row for row in rows if row.started_at is not None and row.foreach_index is None),
        key=lambda row: (row.started_at or 0, row.path),
    )[:TIMELINE_BARS]
    if not started:
        return []
    first = min(row.started_at or 0 for row in started)
    last = max(_end(row, now) for row in started)
    span = max(last - first, 1)
    return [_bar(row, first, span, now) for row in started]


def _end(row: StepRecord, now: int) -> int:
    """Where a bar ends: the step's end, or now for one still running or suspended."""
    return row.ended_at if row.ended_at is not None else now


def _bar(row: StepRecord, first: int, span: int, now: int) -> Bar:
    start = row.started_at or first
    end = max(_end(row, now), start)
    pause_from = pause_to = start
    if row.suspended_at is not None and row.suspended_at >= start:
        pause_from = row.suspended_at
        resumed = row.resumed_at
        pause_to = resumed if resumed is not None and resumed >= pause_from else end
    label = short_path(row.path) + (f" #{row.iteration}" if row.iteration else "")
    if row.attempt:
        label += f" (attempt {row.attempt + 1})"
    return Bar(
        path=row.path,
        label=label,
        status=row.status,
        left=_percent(start - first, span),
        width=max(_percent(end - start, span), 0.5),
        pause_left=_percent(pause_from - start, max(end - start, 1)),
        pause_width=_percent(max(pause_to - pause_from, 0), max(end - start, 1)),
        title=f"{row.path}: {row.status}, {duration(active_ms(row, now))} active",
    )


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2)
