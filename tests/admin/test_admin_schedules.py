"""The schedules' admin: the list with next fire times, add with checks, pause and resume, declared rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pydantic import BaseModel

from workflows_app import create_step, create_workflow
from workflows_app.models import WorkflowSchedule
from workflows_app.schedules import create_schedule

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "admin:workflows_app_workflowschedule_changelist"
ADD = "admin:workflows_app_workflowschedule_add"
FAR = datetime(2031, 1, 6, tzinfo=UTC)


class Report(BaseModel):
    kind: str


reports = (
    create_workflow("admin-reports", input_schema=Report)
    .then(create_step("build", execute=lambda ctx: {"built": ctx.input_data["kind"]}, input_schema=Report))
    .commit()
)


@pytest.fixture
def admin_client() -> Client:
    User.objects.create_superuser("root", password="pw")
    client = Client()
    client.login(username="root", password="pw")
    return client


def test_the_list_shows_each_schedule_with_its_next_fire_times(admin_client: Client) -> None:
    create_schedule(
        name="weekday-report",
        workflow_id="admin-reports",
        cron="0 9 * * 1-5",
        timezone="Europe/Paris",
        input={"kind": "daily"},
        now=FAR,
    )
    html = admin_client.get(reverse(LIST)).content.decode()
    assert "weekday-report" in html and "0 9 * * 1-5" in html and "Europe/Paris" in html
    assert '<time datetime="2031-01-06T08:00:00+00:00">Mon 2031-01-06 09:00 CET</time>' in html
    assert "active" in html and "Pause selected schedules" in html


def test_adding_a_schedule_checks_cron_time_zone_and_input(admin_client: Client) -> None:
    form = {
        "name": "nightly-report",
        "workflow_id": "admin-reports",
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
        "input": '{"kind": "nightly"}',
        "catch_up": "one",
    }
    refused = admin_client.post(reverse(ADD), {**form, "cron": "0 2 * *"})
    assert refused.status_code == 200 and "Invalid cron expression" in refused.content.decode()
    refused = admin_client.post(reverse(ADD), {**form, "timezone": "Europe/Atlantis"})
    assert "Unknown time zone" in refused.content.decode()
    refused = admin_client.post(reverse(ADD), {**form, "input": '{"other": 1}'})
    assert "Invalid input data" in refused.content.decode()
    assert not WorkflowSchedule.objects.exists()

    assert admin_client.post(reverse(ADD), form).status_code == 302
    row = WorkflowSchedule.objects.get(name="nightly-report")
    assert (row.input, row.catch_up, row.declared, row.paused) == ({"kind": "nightly"}, "one", False, False)
    assert row.next_fire_at is not None and row.next_fire_at > row.last_tick


def test_pause_and_resume_actions(admin_client: Client) -> None:
    row = create_schedule(name="r", workflow_id="admin-reports", cron="0 * * * *", input={"kind": "x"})
    action = {"_selected_action": [row.pk]}
    admin_client.post(reverse(LIST), {**action, "action": "pause_selected"})
    assert WorkflowSchedule.objects.get(pk=row.pk).paused is True
    assert "paused" in admin_client.get(reverse(LIST)).content.decode()
    admin_client.post(reverse(LIST), {**action, "action": "resume_selected"})
    resumed = WorkflowSchedule.objects.get(pk=row.pk)
    assert resumed.paused is False and resumed.next_fire_at is not None


def test_a_declared_schedule_is_read_only_and_cannot_be_deleted(admin_client: Client) -> None:
    row = create_schedule(
        name="declared", workflow_id="admin-reports", cron="0 * * * *", input={"kind": "x"}, declared=True
    )
    page = admin_client.get(reverse("admin:workflows_app_workflowschedule_change", args=[row.pk]))
    html = page.content.decode()
    assert 'name="cron"' not in html and "0 * * * *" in html  # shown, not editable
    assert reverse("admin:workflows_app_workflowschedule_delete", args=[row.pk]) not in html
    deleted = admin_client.post(
        reverse("admin:workflows_app_workflowschedule_delete", args=[row.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 403
    assert WorkflowSchedule.objects.filter(pk=row.pk).exists()


def test_saving_a_declared_schedule_or_deleting_it_in_bulk_changes_nothing(admin_client: Client) -> None:
    row = create_schedule(
        name="declared", workflow_id="admin-reports", cron="0 * * * *", input={"kind": "x"}, declared=True
    )
    other = create_schedule(name="made", workflow_id="admin-reports", cron="0 * * * *", input={"kind": "x"})
    saved = admin_client.post(reverse("admin:workflows_app_workflowschedule_change", args=[row.pk]), {})
    assert saved.status_code == 302
    action = {"_selected_action": [row.pk, other.pk], "action": "delete_selected", "post": "yes"}
    assert admin_client.post(reverse(LIST), action).status_code == 403
    assert WorkflowSchedule.objects.count() == 2
    admin_client.post(reverse(LIST), {**action, "_selected_action": [other.pk]})
    assert list(WorkflowSchedule.objects.values_list("name", flat=True)) == ["declared"]
