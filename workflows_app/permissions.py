"""Who may see and act on a workflow run: one rule for REST, WebSocket and the admin.

A run started by a user belongs to that user, who sees it. Staff with the
``view_workflowrun`` permission see every run. Acting on a run (``resume``,
``cancel``, ``restart``, ``time_travel``) takes the model permission of that action
as well as the right to see the run (restart and time travel take resume's);
starting one takes ``start_workflowrun``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from .models import WorkflowRun

ACTIONS = {
    "view": "workflows_app.view_workflowrun",
    "start": "workflows_app.start_workflowrun",
    "resume": "workflows_app.resume_workflowrun",
    "cancel": "workflows_app.cancel_workflowrun",
    "restart": "workflows_app.resume_workflowrun",
    # Schedules: Django's model permissions of WorkflowSchedule.
    "view_schedule": "workflows_app.view_workflowschedule",
    "add_schedule": "workflows_app.add_workflowschedule",
    "change_schedule": "workflows_app.change_workflowschedule",
    "delete_schedule": "workflows_app.delete_workflowschedule",
    "time_travel": "workflows_app.resume_workflowrun",
}


def sees_all_runs(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff and user.has_perm(ACTIONS["view"]))


def can_view(user: Any, started_by_id: int | None) -> bool:
    """Whether ``user`` may see a run started by the user with id ``started_by_id``."""
    if not user.is_authenticated:
        return False
    return (started_by_id is not None and started_by_id == user.pk) or sees_all_runs(user)


def can_act(user: Any, action: str, started_by_id: int | None) -> bool:
    """Whether ``user`` may ``action`` ("start", "resume", "cancel", "restart") the run."""
    if not user.is_authenticated or not user.has_perm(ACTIONS[action]):
        return False
    return action == "start" or can_view(user, started_by_id)


def visible_runs(user: Any, runs: QuerySet[WorkflowRun] | None = None) -> QuerySet[WorkflowRun]:
    """The runs ``user`` may see, as a queryset to filter further."""
    runs = WorkflowRun.objects.all() if runs is None else runs
    if sees_all_runs(user):
        return runs
    if not user.is_authenticated:
        return runs.none()
    return runs.filter(Q(started_by_id=user.pk))
