"""``manage.py run_workflow``: an id only for stored runs, each event once, input within limits."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from workflows_app.models import WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)

STEP_LINES = (
    "  create-account: running",
    "  create-account: success",
    "  send-welcome.send-welcome-mail: running",
    "  send-welcome.subscribe-newsletter: success",
    "  send-welcome: success",
)


def test_each_step_line_is_printed_once_on_either_engine(workflow_engine: str) -> None:
    out = StringIO()
    call_command(
        "run_workflow",
        "onboarding",
        "--engine",
        workflow_engine,
        "--input",
        '{"email": "ann@example.com"}',
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    (run_id,) = WorkflowRun.objects.values_list("run_id", flat=True)
    assert lines[0] == f"run {run_id} of onboarding"
    for expected in STEP_LINES:
        assert sum(1 for line in lines if line.startswith(expected)) == 1, (expected, lines)
    assert "status: success" in lines


def test_input_the_workflow_refuses_prints_no_run_id_and_fails() -> None:
    out = StringIO()
    with pytest.raises(CommandError, match="email: Input should be a valid string"):
        call_command("run_workflow", "onboarding", "--input", '{"email": 5}', stdout=out)
    assert "run " not in out.getvalue()
    assert not WorkflowRun.objects.exists()


def test_resuming_a_run_that_was_never_stored_is_a_clear_error() -> None:
    out = StringIO()
    with pytest.raises(CommandError, match="No stored run 'nope' of expense-approval: nothing to resume"):
        call_command("run_workflow", "expense-approval", "--resume", "nope", "--data", "{}", stdout=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            json.dumps({"email": "a@b.c", "deep": json.loads("[" * 100 + "]" * 100)}),
            "nested more than 64 levels",
        ),
        ("[" * 5000 + "]" * 5000, "--input is nested more than 64 levels deep"),
        ("1" * 5000, "--input holds an integer of more than 1,000 digits"),
        (json.dumps({"email": "x" * 2_000_000}), "--input is larger than 1,048,576 bytes as JSON"),
        ("NaN", "--input holds NaN, which JSON cannot store"),
    ],
    ids=["100-levels", "5000-levels", "5000-digits", "2-MB", "NaN"],
)
def test_json_input_past_the_payload_limits_is_refused_before_any_run(text: str, message: str) -> None:
    out = StringIO()
    with pytest.raises(CommandError, match=message):
        call_command("run_workflow", "onboarding", "--input", text, stdout=out)
    assert out.getvalue() == "" and not WorkflowRun.objects.exists()
