"""``manage.py workflows_prune``: retention by age and status, in batches, with a dry run.

Runs are made by the engines (both), then aged by moving ``updated_at`` back,
as time would.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.utils import timezone

from workflows_app import create_step, create_workflow
from workflows_app.core import runtime
from workflows_app.models import StepAttempt, WorkflowEvent, WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)


async def _ask(ctx: Any) -> Any:
    if ctx.resume_data is None and ctx.input_data.get("ask"):
        return await ctx.suspend({"question": "ok?"})
    return {"done": True}


asking = create_workflow("prune-asking").then(create_step("ask", execute=_ask)).commit()


@pytest.fixture(params=["default", "evented"])
def engine(request: pytest.FixtureRequest) -> Any:
    runtime.reset_storage()
    yield request.param
    runtime.reset_storage()


def make_runs(engine: str, *ages: int, suspended: tuple[int, ...] = ()) -> list[str]:
    """Runs that ended ``ages`` days ago, then runs suspended ``suspended`` days ago, made in one loop.

    One event loop for all: on a bus that crosses processes, a second loop would
    take the first loop's stopped worker for a live one.
    """
    plan = [(days, False) for days in ages] + [(days, True) for days in suspended]

    async def amake() -> list[str]:
        made = []
        for _, ask in plan:
            run = await asking.acreate_run(engine=engine)
            result = await run.astart({"ask": ask})
            assert result.status == ("suspended" if ask else "success")
            made.append(str(run.run_id))
        return made

    run_ids = async_to_sync(amake)()
    for run_id, (days_old, _) in zip(run_ids, plan, strict=True):
        WorkflowRun.objects.filter(pk=run_id).update(updated_at=timezone.now() - timedelta(days=days_old))
    return run_ids


def prune(*args: str) -> str:
    out = StringIO()
    call_command("workflows_prune", *args, stdout=out)
    return out.getvalue()


def remaining() -> set[str]:
    return set(WorkflowRun.objects.values_list("pk", flat=True))


def test_ended_runs_older_than_the_age_go_with_their_steps_and_events(engine: str) -> None:
    old, recent, running, waiting = make_runs(engine, 40, 2, 40, suspended=(40,))
    WorkflowRun.objects.filter(pk=running).update(status="running")

    output = prune("--older-than", "30d")

    assert remaining() == {recent, waiting, running}
    assert not StepAttempt.objects.filter(run_id=old).exists()
    assert not WorkflowEvent.objects.filter(run_id=old).exists()
    assert WorkflowEvent.objects.filter(run_id=recent).exists()
    assert "deleted 1 success, failed, canceled, tripwire runs" in output


def test_status_chooses_what_goes_suspended_included(engine: str) -> None:
    success, _ = make_runs(engine, 40, suspended=(40,))

    prune("--older-than", "30d", "--status", "suspended")

    assert remaining() == {success}


def test_dry_run_counts_and_deletes_nothing(engine: str) -> None:
    runs = set(make_runs(engine, 40, 40))

    output = prune("--older-than", "30d", "--dry-run")

    assert remaining() == runs
    assert output.startswith("would delete 2 success, failed, canceled, tripwire runs")
    assert "deleted nothing" in output


def test_batches_delete_everything_a_few_runs_at_a_time(engine: str) -> None:
    make_runs(engine, 40, 40, 40, 40, 40)

    output = prune("--older-than", "30d", "--batch-size", "2")

    assert remaining() == set()
    assert [line for line in output.splitlines() if line.startswith("batch")] == [
        "batch 1: 2 runs",
        "batch 2: 2 runs",
        "batch 3: 1 runs",
    ]
    assert "in 3 batch(es)" in output


def test_active_statuses_and_bad_ages_are_refused() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'running'"):
        prune("--older-than", "30d", "--status", "running")
    with pytest.raises(CommandError, match="--older-than 'a while': give a number and a unit"):
        prune("--older-than", "a while")
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        prune("--older-than", "30d", "--batch-size", "0")
