"""Time travel from a chosen step, and cancel of selected runs, through the admin."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.urls import reverse
from pydantic import BaseModel

from tests.admin.test_admin import run_url, staff, suspended_run
from workflows_app import create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.models import WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)


class Number(BaseModel):
    n: int


async def _double(ctx: Any) -> Any:
    return {"n": ctx.input_data["n"] * 2}


async def _add_one(ctx: Any) -> Any:
    return {"n": ctx.input_data["n"] + 1}


arithmetic = (
    create_workflow("admin-arithmetic", input_schema=Number)
    .then(create_step("double", execute=_double, input_schema=Number))
    .then(create_step("add", execute=_add_one, input_schema=Number))
    .commit()
)


def finished(engine: str = "default") -> str:
    runtime.reset_storage()
    run = async_to_sync(arithmetic.acreate_run)(engine=engine)
    result = async_to_sync(run.astart)({"n": 3})
    assert (result.status, result.result) == ("success", {"n": 7})
    return str(run.run_id)


def travel_url(run_id: str) -> str:
    return reverse("admin:workflows_app_time_travel", args=[run_id])


def test_the_run_page_offers_time_travel_from_each_step() -> None:
    client = staff("admin", superuser=True)
    run_id = finished()
    html = client.get(run_url(run_id)).content.decode()
    assert f'action="{travel_url(run_id)}"' in html
    assert '<option value="double">double</option>' in html and '<option value="add">add</option>' in html


def test_the_time_travel_form_starts_from_the_step_s_stored_input() -> None:
    client = staff("admin", superuser=True)
    run_id = finished()
    html = client.get(travel_url(run_id) + "?step=add").content.decode()
    assert 'name="input-n" value="6"' in html  # what "add" got in this run
    assert 'name="step" value="add"' in html


def test_time_travel_runs_again_from_the_step_with_the_new_input(workflow_engine: str) -> None:
    client = staff("admin", superuser=True)
    run_id = finished(workflow_engine)
    response = client.post(travel_url(run_id), {"step": "add", "input-n": "10"})
    assert response.status_code == 302 and response["Location"] == run_url(run_id)
    assert settled(run_id) == ("success", {"n": 11})


def settled(run_id: str) -> tuple[str, Any]:
    """The run's status and result once it stopped moving (a worker process may still be on it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = WorkflowRun.objects.get(pk=run_id)
        if run.status not in ("pending", "running", "waiting"):
            return run.status, run.result
        time.sleep(0.05)  # polling the database with a deadline: the worker is another process
    raise AssertionError(f"run {run_id} did not settle")


def test_time_travel_input_the_step_s_schema_refuses_is_shown_and_changes_nothing() -> None:
    client = staff("admin", superuser=True)
    run_id = finished()
    response = client.post(travel_url(run_id), {"step": "add", "input-json": '{"n": "ten"}'})
    assert response.status_code == 400
    html = response.content.decode()
    assert "valid integer" in html
    malformed = client.post(travel_url(run_id), {"step": "add", "input-json": "{"})
    assert malformed.status_code == 400 and "Not valid JSON" in malformed.content.decode()
    run = WorkflowRun.objects.get(pk=run_id)
    assert (run.status, run.result) == ("success", {"n": 7})


def test_time_travel_to_an_unknown_step_goes_back_with_a_message() -> None:
    client = staff("admin", superuser=True)
    run_id = finished()
    response = client.post(travel_url(run_id), {"step": "nope", "input-n": "1"}, follow=True)
    assert "Choose a step of admin-arithmetic to travel from." in response.content.decode()
    assert WorkflowRun.objects.get(pk=run_id).result == {"n": 7}


def test_time_travel_needs_the_resume_permission() -> None:
    run_id = finished()
    viewer = staff("viewer", "view_workflowrun")
    assert "wf-travel-form" not in viewer.get(run_url(run_id)).content.decode()
    assert viewer.post(travel_url(run_id), {"step": "add", "input-n": "10"}).status_code == 403
    assert WorkflowRun.objects.get(pk=run_id).result == {"n": 7}


def _cancel_selected(client: Any, run_ids: list[str]) -> Any:
    return client.post(
        reverse("admin:workflows_app_workflowrun_changelist"),
        {"action": "cancel_selected", "_selected_action": run_ids},
        follow=True,
    )


def test_cancel_selected_cancels_the_runs_still_going_and_leaves_the_rest() -> None:
    client = staff("admin", superuser=True)
    first, second = suspended_run(), suspended_run()
    done = finished()
    response = _cancel_selected(client, [first, second, done])
    html = response.content.decode()
    assert "Canceled 2 runs. Left 1 as they were (already ended, or not yours to cancel)." in html
    statuses = dict(WorkflowRun.objects.values_list("run_id", "status"))
    assert (statuses[first], statuses[second], statuses[done]) == ("canceled", "canceled", "success")


def test_cancel_selected_is_offered_only_with_the_cancel_permission() -> None:
    User.objects.create_user("owner")
    run_id = suspended_run(owner="owner")
    viewer = staff("viewer", "view_workflowrun")
    changelist = viewer.get(reverse("admin:workflows_app_workflowrun_changelist")).content.decode()
    assert "cancel_selected" not in changelist
    _cancel_selected(viewer, [run_id])
    assert WorkflowRun.objects.get(pk=run_id).status == "suspended"
    canceller = staff("canceller", "view_workflowrun", "cancel_workflowrun")
    changelist = canceller.get(reverse("admin:workflows_app_workflowrun_changelist")).content.decode()
    assert 'value="cancel_selected"' in changelist
    _cancel_selected(canceller, [run_id])
    assert WorkflowRun.objects.get(pk=run_id).status == "canceled"
