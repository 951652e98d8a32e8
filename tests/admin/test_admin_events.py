"""The admin's form to send the event a suspended step waits on, built from its resume schema."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse
from pydantic import BaseModel

from workflows_app import create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.models import WorkflowRun

from .test_admin import staff

pytestmark = pytest.mark.django_db(transaction=True)


class Payment(BaseModel):
    amount: int
    payer: str


async def _await_payment(ctx: Any) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend(
            {"order": ctx.input_data["order"]}, event="paid", key=ctx.input_data["order"]
        )
    return {"paid": ctx.resume_data}


payment = (
    create_workflow("admin-payment")
    .then(create_step("await-payment", execute=_await_payment, resume_schema=Payment))
    .commit()
)


def waiting_run() -> str:
    runtime.reset_storage()
    run = async_to_sync(payment.acreate_run)()
    assert async_to_sync(run.astart)({"order": "o-1"}).status == "suspended"
    return str(run.run_id)


def until_status(run_id: str, status: str) -> WorkflowRun:
    deadline = time.monotonic() + 30
    while (run := WorkflowRun.objects.get(pk=run_id)).status != status:
        assert time.monotonic() < deadline, f"run {run_id} is still {run.status}"
        time.sleep(0.02)
    return run


def test_the_run_page_offers_to_send_the_event_the_step_waits_on() -> None:
    client = staff("admin", superuser=True)
    run_id = waiting_run()
    html = client.get(reverse("admin:workflows_app_workflowrun_change", args=[run_id])).content.decode()
    assert "Send paid to await-payment" in html
    assert "Waiting on event <code>paid</code> with key <code>o-1</code>" in html
    assert reverse("admin:workflows_app_send_event", args=[run_id, "await-payment"]) in html
    assert 'name="await-payment-amount"' in html and 'name="await-payment-payer"' in html


def test_sending_the_event_from_the_form_resumes_the_step() -> None:
    client = staff("admin", superuser=True)
    run_id = waiting_run()
    url = reverse("admin:workflows_app_send_event", args=[run_id, "await-payment"])
    response = client.post(url, {"await-payment-amount": "12", "await-payment-payer": "ada"})
    assert response.status_code == 302
    run = until_status(run_id, "success")
    assert run.result == {"paid": {"amount": 12, "payer": "ada"}}


def test_invalid_event_data_shows_the_errors_and_changes_nothing() -> None:
    client = staff("admin", superuser=True)
    run_id = waiting_run()
    url = reverse("admin:workflows_app_send_event", args=[run_id, "await-payment"])
    response = client.post(url, {"await-payment-json": '{"amount": "lots"}'})
    assert response.status_code == 400
    html = response.content.decode()
    assert "amount" in html and "payer" in html
    assert WorkflowRun.objects.get(pk=run_id).status == "suspended"


def test_staff_without_the_resume_permission_may_not_send() -> None:
    client = staff("viewer", "view_workflowrun")
    run_id = waiting_run()
    WorkflowRun.objects.filter(pk=run_id).update(started_by=None)
    url = reverse("admin:workflows_app_send_event", args=[run_id, "await-payment"])
    assert client.post(url, {"await-payment-amount": "1", "await-payment-payer": "x"}).status_code in (
        403,
        404,
    )
    assert WorkflowRun.objects.get(pk=run_id).status == "suspended"
