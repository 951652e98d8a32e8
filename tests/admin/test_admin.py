"""The admin through Django's test client: list, run page, resume, cancel, start, permissions."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pydantic import BaseModel

from workflows_app import create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.models import WorkerHeartbeat, WorkflowRun, WorkflowTask

pytestmark = pytest.mark.django_db(transaction=True)


class Decision(BaseModel):
    approved: bool
    reviewer: str


class Amount(BaseModel):
    amount: int


async def _decide(ctx: Any) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"question": f"approve {ctx.input_data['amount']}?"})
    return {"approved": ctx.resume_data["approved"], "by": ctx.resume_data["reviewer"]}


approval = (
    create_workflow("admin-approval", input_schema=Amount)
    .then(create_step("decide", execute=_decide, resume_schema=Decision, input_schema=Amount))
    .commit()
)


def staff(name: str, *perms: str, superuser: bool = False) -> Client:
    user = User.objects.create_user(name, password="pw", is_staff=True, is_superuser=superuser)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


def suspended_run(owner: str | None = None) -> str:
    runtime.reset_storage()
    run = async_to_sync(approval.acreate_run)()
    result = async_to_sync(run.astart)({"amount": 120})
    assert result.status == "suspended"
    if owner:
        WorkflowRun.objects.filter(pk=run.run_id).update(started_by=User.objects.get(username=owner))
    return str(run.run_id)


def run_url(run_id: str) -> str:
    return reverse("admin:workflows_app_workflowrun_change", args=[run_id])


def test_the_run_list_shows_status_steps_and_filters() -> None:
    client = staff("admin", superuser=True)
    run_id = suspended_run()
    page = client.get(reverse("admin:workflows_app_workflowrun_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert run_id[:8] in html and "suspended" in html and "0 / 1" in html
    filtered = client.get(reverse("admin:workflows_app_workflowrun_changelist") + "?status=success")
    assert run_id[:8] not in filtered.content.decode()
    searched = client.get(reverse("admin:workflows_app_workflowrun_changelist") + f"?q={run_id}")
    assert run_id[:8] in searched.content.decode()


def test_the_run_page_shows_graph_steps_events_and_the_resume_form() -> None:
    client = staff("admin", superuser=True)
    run_id = suspended_run()
    html = client.get(run_url(run_id)).content.decode()
    assert 'class="wf-node wf-status-suspended"' in html
    assert "approve 120?" in html  # the suspend payload
    assert 'name="decide-reviewer"' in html and 'name="decide-approved"' in html  # from the resume schema
    assert "workflow-step-suspended" in html  # the event log
    assert "workflows_app/stream.js" in html


def test_resume_with_valid_data_finishes_the_run() -> None:
    client = staff("admin", superuser=True)
    run_id = suspended_run()
    url = reverse("admin:workflows_app_resume", args=[run_id, "decide"])
    response = client.post(url, {"decide-approved": "on", "decide-reviewer": "bob"})
    assert response.status_code == 302
    run = WorkflowRun.objects.get(pk=run_id)
    assert (run.status, run.result) == ("success", {"approved": True, "by": "bob"})


def test_resume_with_invalid_data_shows_the_errors_and_changes_nothing() -> None:
    client = staff("admin", superuser=True)
    run_id = suspended_run()
    url = reverse("admin:workflows_app_resume", args=[run_id, "decide"])
    response = client.post(url, {"decide-json": '{"approved": "perhaps"}'})
    assert response.status_code == 400
    html = response.content.decode()
    assert "approved" in html and "reviewer" in html and "Field required" in html
    malformed = client.post(url, {"decide-json": "{not json"})
    assert "Not valid JSON" in malformed.content.decode()
    assert WorkflowRun.objects.get(pk=run_id).status == "suspended"


def test_cancel_asks_for_confirmation_then_cancels() -> None:
    client = staff("admin", superuser=True)
    run_id = suspended_run()
    url = reverse("admin:workflows_app_cancel", args=[run_id])
    assert "Yes, cancel the run" in client.get(url).content.decode()
    assert WorkflowRun.objects.get(pk=run_id).status == "suspended"
    assert client.post(url).status_code == 302
    assert WorkflowRun.objects.get(pk=run_id).status == "canceled"


def test_staff_without_permissions_may_not_see_resume_or_cancel_others_runs() -> None:
    User.objects.create_user("owner")
    run_id = suspended_run(owner="owner")
    viewer = staff("viewer", "view_workflowrun")
    assert viewer.get(run_url(run_id)).status_code == 200
    assert viewer.post(reverse("admin:workflows_app_resume", args=[run_id, "decide"])).status_code == 403
    assert viewer.post(reverse("admin:workflows_app_cancel", args=[run_id])).status_code == 403
    nobody = staff("nobody")
    assert nobody.get(run_url(run_id)).status_code in (302, 403)
    assert nobody.post(reverse("admin:workflows_app_cancel", args=[run_id])).status_code in (403, 404)
    assert WorkflowRun.objects.get(pk=run_id).status == "suspended"


def test_the_workflows_page_lists_graphs_and_starts_a_run() -> None:
    client = staff("admin", superuser=True)
    html = client.get(reverse("admin:workflows_app_workflows")).content.decode()
    assert "admin-approval" in html and "wf-node" in html
    start = reverse("admin:workflows_app_start", args=["admin-approval"])
    assert 'name="amount"' in client.get(start).content.decode()
    bad = client.post(start, {"json": '{"amount": "lots"}'})
    assert bad.status_code == 400 and "amount" in bad.content.decode()
    response = client.post(start, {"amount": "7"})
    assert response.status_code == 302
    run = WorkflowRun.objects.get(workflow_id="admin-approval")
    assert run.started_by is not None and run.started_by.username == "admin"
    assert response["Location"] == run_url(run.run_id)


def test_restart_is_offered_only_when_no_live_worker_holds_the_run() -> None:
    client = staff("admin", superuser=True)
    run_id = suspended_run()
    # As a worker of another process leaves it: the run running, a task under its live lease.
    WorkflowRun.objects.filter(pk=run_id).update(status="running")
    now = int(time.time() * 1000)
    WorkflowTask.objects.create(
        run_id=run_id,
        key="decide",
        handout=7,
        kind="step",
        queue="evented",
        status="running",
        available_at=now,
        owner="worker-elsewhere",
        lease=1,
        lease_until=now + 600_000,
        created_at=now,
    )
    beat = WorkerHeartbeat.objects.create(worker="worker-elsewhere", last_seen=timezone.now())
    assert 'value="Restart"' not in client.get(run_url(run_id)).content.decode()
    refused = client.post(reverse("admin:workflows_app_restart", args=[run_id]), follow=True)
    assert "still being worked on by worker-elsewhere" in refused.content.decode()
    assert WorkflowTask.objects.get(run_id=run_id).lease == 1  # nothing handed out again
    beat.delete()  # that worker died: its lease no longer means anyone works on the run
    assert 'value="Restart"' in client.get(run_url(run_id)).content.decode()


def test_starts_over_the_rate_limit_are_refused_on_the_form_with_a_reason(settings: Any) -> None:
    settings.WORKFLOWS = {**getattr(settings, "WORKFLOWS", {}), "START_RATE_LIMIT": "1/hour"}
    client = staff("admin", superuser=True)
    start = reverse("admin:workflows_app_start", args=["admin-approval"])
    assert client.post(start, {"amount": "7"}).status_code == 302

    refused = client.post(start, {"amount": "8"})

    assert refused.status_code == 429
    assert 3590 <= int(refused["Retry-After"]) <= 3600
    html = refused.content.decode()
    assert "You started as many runs as allowed (1/hour); try again in" in html
    assert 'value="8"' in html  # what was typed is kept for the next try
    assert WorkflowRun.objects.filter(workflow_id="admin-approval").count() == 1
    other = staff("other", superuser=True)
    assert other.post(start, {"amount": "9"}).status_code == 302
