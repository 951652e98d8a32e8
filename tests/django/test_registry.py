"""Workflows are discovered from installed apps' workflows.py and found by id."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from workflows_app.core import runtime
from workflows_app.errors import WorkflowNotFoundError


def test_the_demo_app_workflows_are_registered_at_start_up() -> None:
    registered = runtime.registered_workflows()
    for workflow_id in (
        "expense-approval",
        "order-fulfilment",
        "thumbnails",
        "count-up",
        "onboarding",
        "reminder",
    ):
        assert workflow_id in registered


def test_an_unknown_workflow_id_is_a_clear_error() -> None:
    with pytest.raises(WorkflowNotFoundError, match="'nope' is not registered"):
        runtime.get_workflow("nope")


def test_run_workflow_names_the_registered_workflows_when_the_id_is_unknown() -> None:
    with pytest.raises(CommandError, match=r"Registered workflows: .*expense-approval"):
        call_command("run_workflow", "nope", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_run_workflow_refuses_malformed_json() -> None:
    with pytest.raises(CommandError, match="--input is not valid JSON"):
        call_command("run_workflow", "count-up", "--input", "{nope", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_run_workflow_prints_each_step_and_the_result() -> None:
    out = StringIO()
    call_command("run_workflow", "onboarding", "--input", '{"email": "ann@example.com"}', stdout=out)
    text = out.getvalue()
    assert "create-account: success" in text
    assert "send-welcome: success" in text
    assert "status: success" in text
    assert '"subscribed": true' in text
