"""Hostile JSON at the admin's forms and at ``run_workflow``: a clear refusal, never a 500 or a traceback.

The REST API's cases are in tests/api/test_limits.py; every entry decodes
through ``payloads.parse_json``.
"""

from __future__ import annotations

import html
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from workflows_app.models import WorkflowRun, WorkflowSchedule

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = "[" * 5000 + "]" * 5000
LONG_NUMBER = '{"email": ' + "7" * 5000 + "}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP, "The JSON is nested more than 64 levels deep"),
        (LONG_NUMBER, "The JSON holds an integer of more than 1,000 digits"),
        ('{"email": NaN}', "The JSON holds NaN, which JSON cannot store"),
    ],
)
def test_the_admin_start_form_refuses_hostile_json_on_the_field(text: str, message: str) -> None:
    user = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(user)

    response = client.post(reverse("admin:workflows_app_start", args=["onboarding"]), {"json": text})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WorkflowRun.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP, "The input is nested more than 64 levels deep"),
        (LONG_NUMBER, "The input holds an integer of more than 1,000 digits"),
        ('{"email": NaN}', "The input holds NaN, which JSON cannot store"),
        ('{"email": -Infinity}', "The input holds -Infinity, which JSON cannot store"),
        (
            '{"email": "' + "x" * 1_100_000 + '"}',
            "The schedule's input is larger than 1,048,576 bytes as JSON",
        ),
        ('{"email": ', "Not valid JSON: Expecting value (line 1, column 11)"),
    ],
    ids=["deep", "long-number", "nan", "-infinity", "over-size", "not-json"],
)
def test_the_admin_schedule_form_refuses_hostile_input_with_a_form_error(text: str, message: str) -> None:
    user = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(user)
    form = {"name": "nightly", "workflow_id": "onboarding", "cron": "0 2 * * *", "timezone": "UTC"}

    response = client.post(
        reverse("admin:workflows_app_workflowschedule_add"), {**form, "input": text, "catch_up": "one"}
    )

    assert response.status_code == 200  # the form again, with the error
    page = response.content.decode()
    assert html.escape(message) in page
    assert html.escape(text[:200]) in page  # the text is shown back as typed, to be corrected
    assert not WorkflowSchedule.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP, "--input is nested more than 64 levels deep"),
        (LONG_NUMBER, "--input holds an integer of more than 1,000 digits"),
        ('{"email": Infinity}', "--input holds Infinity, which JSON cannot store"),
    ],
)
def test_run_workflow_refuses_hostile_json_with_a_message(text: str, message: str) -> None:
    with pytest.raises(CommandError) as refused:
        call_command("run_workflow", "onboarding", "--input", text, stdout=StringIO())

    assert str(refused.value) == message
    assert not WorkflowRun.objects.exists()
