"""Template filters of the admin's run pages; the formatting itself is :mod:`workflows_app.admin_display`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.safestring import SafeString

from .. import admin_display
from ..core.storage import StepRecord

register = template.Library()


@register.filter
def wf_time(moment: int | datetime | None) -> SafeString:
    """A time (epoch milliseconds, as steps keep it, or a datetime) as local time, with how long ago."""
    if isinstance(moment, datetime):
        moment = int(moment.timestamp() * 1000)
    return admin_display.local_time(moment)


@register.filter
def wf_json(value: Any) -> SafeString:
    """A stored JSON value, indented and folded."""
    return admin_display.json_html(value)


@register.filter
def wf_short(step_id: str) -> str:
    """A step id or dotted path with generated ids shortened."""
    return admin_display.short_path(step_id)


@register.filter
def wf_active(row: StepRecord) -> str:
    """How long a step worked, suspended time left out."""
    return admin_display.duration(admin_display.active_ms(row))
