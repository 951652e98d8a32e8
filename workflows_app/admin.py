"""The admin: runs list and run page, with Resume, Cancel and Restart through the engine API.

The list stays fast on a million runs: every filter and search is an indexed
query, the big JSON columns are not loaded, the steps-done figure is a
correlated subquery on the page's rows only, and the paginator never counts the
whole table. The run page and the actions live in :mod:`workflows_app.admin_views`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from . import admin_views
from .admin_display import local_time
from .core import runtime
from .core.graph import entry_ids
from .core.plan import ACTIVE
from .models import StepAttempt, WorkflowRun
from .permissions import ACTIONS, visible_runs

_COUNT_CAP = 10_000
_STATUS_COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "suspended": "#ef6c00",
    "waiting": "#6a1b9a",
    "canceled": "#616161",
    "paused": "#00838f",
    "pending": "#9e9e9e",
    "tripwire": "#ad1457",
}
_HEAVY_COLUMNS = ("input", "run_state", "request_context", "state", "result", "error")


def status_badge(status: str) -> str:
    colour = _STATUS_COLOURS.get(status, "#9e9e9e")
    return format_html(
        '<span class="wf-badge" style="background:{};color:#fff;padding:1px 6px;border-radius:8px">{}</span>',
        colour,
        status,
    )


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most ``_COUNT_CAP`` rows; past that, PostgreSQL's estimate for the whole table."""

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list
        capped = int(queryset.order_by()[: _COUNT_CAP + 1].count())
        if capped <= _COUNT_CAP or queryset.query.where or connection.vendor != "postgresql":
            return min(capped, _COUNT_CAP)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [WorkflowRun._meta.db_table]
            )
            row = cursor.fetchone()
        return max(capped, int(row[0]) if row else capped)


class WorkflowFilter(admin.SimpleListFilter):
    """Filter by workflow, listing the registered workflows (no query on the runs table)."""

    title = "workflow"
    parameter_name = "workflow_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(workflow_id, workflow_id) for workflow_id in sorted(runtime.registered_workflows())]

    def queryset(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> QuerySet[WorkflowRun]:
        value = self.value()
        return queryset.filter(workflow_id=value) if value else queryset


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "short_id",
        "workflow_id",
        "status_badge",
        "resource_id",
        "started",
        "duration",
        "steps",
    )
    list_filter = (WorkflowFilter, "status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("run_id", "resource_id")  # see get_search_results
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-created_at",)
    change_form_template = "admin/workflows_app/workflowrun/run_page.html"
    change_list_template = "admin/workflows_app/workflowrun/change_list.html"
    actions = ("cancel_selected",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowRun]:
        done = (
            StepAttempt.objects.filter(run=OuterRef("pk"), status="success", foreach_index=-1)
            .exclude(path__contains=".")
            .order_by()
            .values("run")
            .annotate(n=Count("path", distinct=True))
            .values("n")
        )
        queryset = visible_runs(request.user, super().get_queryset(request))
        return queryset.defer(*_HEAVY_COLUMNS).annotate(
            steps_done=Subquery(done, output_field=IntegerField())
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[WorkflowRun], search_term: str
    ) -> tuple[QuerySet[WorkflowRun], bool]:
        """An exact run id or resource id (the admin's ``=`` search ignores case: no index serves it)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(run_id=term) | Q(resource_id=term)), False

    @admin.display(description="run", ordering="run_id")
    def short_id(self, run: WorkflowRun) -> str:
        return run.run_id[:8]

    @admin.display(description="status", ordering="status")
    def status_badge(self, run: WorkflowRun) -> str:
        return status_badge(run.status)

    @admin.display(description="started", ordering="created_at")
    def started(self, run: WorkflowRun) -> str:
        return local_time(int(run.created_at.timestamp() * 1000))

    @admin.display(description="duration")
    def duration(self, run: WorkflowRun) -> str:
        if run.status in ACTIVE:
            return "running"
        seconds = (run.updated_at - run.created_at).total_seconds()
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

    @admin.display(description="steps done / total")
    def steps(self, run: WorkflowRun) -> str:
        total = _top_level_steps(run.workflow_id)
        done = getattr(run, "steps_done", None) or 0
        return f"{done} / {total}" if total is not None else str(done)

    @admin.action(description="Cancel selected workflow runs", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> None:
        """Cancel every selected run that is still going and that the user may cancel."""
        canceled, skipped = admin_views.cancel_runs(request, queryset)
        message = f"Canceled {canceled} run{pluralize(canceled)}."
        if skipped:
            message += f" Left {skipped} as they were (already ended, or not yours to cancel)."
        self.message_user(request, message, messages.SUCCESS if canceled else messages.WARNING)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(ACTIONS["cancel"]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # runs change through the engine API only: see the actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("workflows_app.delete_workflowrun"))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own: list[URLPattern] = [
            path("workflows/", view(admin_views.workflows_page), name="workflows_app_workflows"),
            path(
                "workflows/<str:workflow_id>/start/", view(admin_views.start_run), name="workflows_app_start"
            ),
            path(
                "<str:run_id>/resume/<str:step_path>/",
                view(admin_views.resume_run),
                name="workflows_app_resume",
            ),
            path(
                "<str:run_id>/send-event/<str:step_path>/",
                view(admin_views.send_event),
                name="workflows_app_send_event",
            ),
            path("<str:run_id>/cancel/", view(admin_views.cancel_run), name="workflows_app_cancel"),
            path("<str:run_id>/restart/", view(admin_views.restart_run), name="workflows_app_restart"),
            path(
                "<str:run_id>/time-travel/",
                view(admin_views.time_travel_run),
                name="workflows_app_time_travel",
            ),
        ]
        return own + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        run = self.get_object(request, object_id)
        extra = {**(extra_context or {}), **(admin_views.run_page_context(request, run) if run else {})}
        if run:  # the page's status is the live badge; a status in the title would go stale
            extra["subtitle"] = f"{run.workflow_id} {run.run_id}"
        return super().change_view(request, object_id, form_url, extra)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra = {**(extra_context or {}), "workflows_url": reverse("admin:workflows_app_workflows")}
        return super().changelist_view(request, extra)


def _top_level_steps(workflow_id: str) -> int | None:
    """How many steps the workflow's top level has, from the registry (no query)."""
    try:
        workflow = runtime.get_workflow(workflow_id)
    except LookupError:
        return None
    return sum(len(entry_ids(entry)) for entry in workflow.entries)


from . import admin_schedules as _admin_schedules  # noqa: E402, F401 - registers the schedules' admin
from .api import admin as _api_admin  # noqa: E402, F401 - registers the REST API's token admin
