"""The admin of schedules: the list with next fire times, pause and resume, add and change forms.

Every write goes through :mod:`workflows_app.schedules` (the REST API's rules):
the form checks the cron expression, the time zone and the input against the
workflow's schema, and schedules declared in code are read-only here (pausing
them works; their rule lives in the code).
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from . import schedules
from .core import runtime
from .core.errors import InputValidationError
from .core.schedules import zone_of
from .forms import LimitedJSONField
from .models import WorkflowSchedule


class ScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    workflow_id = forms.ChoiceField(label="Workflow", choices=())
    input = LimitedJSONField(what="the input", required=False, help_text="The input of every run, as JSON.")

    class Meta:
        model = WorkflowSchedule
        fields = ("name", "workflow_id", "cron", "timezone", "input", "catch_up", "paused")
        help_texts: ClassVar[dict[str, str]] = {
            "cron": "Five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5.",
            "timezone": "An IANA time zone, e.g. Europe/Paris.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "workflow_id" in self.fields:  # read-only on a declared schedule
            field = cast(forms.ChoiceField, self.fields["workflow_id"])
            field.choices = [(key, key) for key in sorted(runtime.registered_workflows())]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or "workflow_id" not in data:
            return data
        try:
            data["input"] = schedules.check_schedule(
                data["workflow_id"], data["cron"], data["timezone"], data.get("input"), data["catch_up"]
            )
        except InputValidationError as exc:
            self.add_error("input", str(exc))
        except schedules.ScheduleError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(WorkflowSchedule)
class WorkflowScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ScheduleForm
    list_display = ("name", "workflow_id", "cron", "timezone", "catch_up", "state", "next_fire_times")
    list_filter = ("paused", "declared", "catch_up")
    search_fields = ("name", "workflow_id")
    actions = ("pause_selected", "resume_selected")
    readonly_fields = ("declared", "last_tick", "next_fire_times", "recent_ticks")

    @admin.display(description="state", ordering="paused")
    def state(self, row: WorkflowSchedule) -> str:
        return "paused" if row.paused else "active"

    @admin.display(description="next fire times")
    def next_fire_times(self, row: WorkflowSchedule) -> str:
        """In the schedule's own time zone, as its cron expression reads; UTC in the markup."""
        upcoming = schedules.next_fire_times(row, 3) if row.pk else []
        if not upcoming:
            return "-"
        zone = zone_of(row.timezone)
        shown = ((t.isoformat(), f"{t.astimezone(zone):%a %Y-%m-%d %H:%M %Z}") for t in upcoming)
        return format_html_join(mark_safe("<br>"), '<time datetime="{}">{}</time>', shown)

    @admin.display(description="recent ticks")
    def recent_ticks(self, row: WorkflowSchedule) -> str:
        ticks = row.ticks.all()[:10] if row.pk else []
        links = (
            (
                f"{t.tick:%Y-%m-%d %H:%M}",
                reverse("admin:workflows_app_workflowrun_change", args=[t.run_id]),
                t.run_id,
            )
            for t in ticks
        )
        return format_html_join("", '<div>{} &rarr; <a href="{}">{}</a></div>', links) or "-"

    def get_readonly_fields(self, request: HttpRequest, obj: WorkflowSchedule | None = None) -> Any:
        if obj is not None and obj.declared:
            return (*ScheduleForm.Meta.fields, *self.readonly_fields)
        if obj is not None:
            return ("name", "paused", *self.readonly_fields)
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: WorkflowSchedule | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.declared)

    def save_model(self, request: HttpRequest, obj: WorkflowSchedule, form: Any, change: bool) -> None:
        if change and obj.declared:
            return  # every field is read-only: nothing to save
        if change:
            schedules.update_schedule(obj)
            return
        fields = {name: form.cleaned_data[name] for name in ScheduleForm.Meta.fields}
        obj.pk = schedules.create_schedule(**fields).pk

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WorkflowSchedule]) -> None:
        """Bulk delete; declared rows never get here (no delete permission on them: Django answers 403)."""
        for row in queryset:
            schedules.delete_schedule(row)

    @admin.action(description="Pause selected schedules", permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[WorkflowSchedule]) -> None:
        for row in queryset:
            schedules.pause_schedule(row)
        self.message_user(request, f"Paused {len(queryset)} schedule(s).", messages.SUCCESS)

    @admin.action(description="Resume selected schedules", permissions=["change"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[WorkflowSchedule]) -> None:
        for row in queryset:
            schedules.resume_schedule(row)
        self.message_user(request, f"Resumed {len(queryset)} schedule(s).", messages.SUCCESS)
