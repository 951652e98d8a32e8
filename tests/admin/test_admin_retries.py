"""The admin run page shows a retried step's failed tries with their errors, and a pending retry."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from workflows_app import RetryPolicy, create_step, create_workflow
from workflows_app.core import runtime

from .test_admin import run_url, staff

pytestmark = pytest.mark.django_db(transaction=True)


async def _flaky(ctx: Any) -> Any:
    if ctx.retry_count < 2:
        raise ConnectionError(f"upstream down (try {ctx.retry_count})")
    return {"ok": True}


async def _never(ctx: Any) -> Any:
    raise ConnectionError("still down")


retried = create_workflow("admin-retried", retry_config=RetryPolicy(attempts=3, delay=0.01))
retried = retried.then(create_step("flaky", execute=_flaky)).commit()
waiting = create_workflow("admin-retry-waits", retry_config=RetryPolicy(attempts=1, delay=3600.0))
waiting = waiting.then(create_step("later", execute=_never)).commit()


def test_the_run_page_lists_each_failed_try_with_its_error() -> None:
    runtime.reset_storage()
    run = async_to_sync(retried.acreate_run)()
    assert async_to_sync(run.astart)({}).status == "success"
    html = staff("admin", superuser=True).get(run_url(run.run_id)).content.decode()
    assert html.count('class="wf-failed-attempt"') == 2
    assert "ConnectionError: upstream down (try 0)" in html
    assert "ConnectionError: upstream down (try 1)" in html
    assert "workflow-step-retry" in html  # in the event log


async def _enqueue_until_waiting() -> str:
    """Start a run whose step fails and waits an hour for its retry; return once it waits."""
    run = await waiting.acreate_run()
    await run.aenqueue({})
    deadline = time.monotonic() + 20.0
    while True:
        stored = await waiting.aget_run(run.run_id)
        if stored and stored.steps and stored.steps.get("later", {}).get("status") == "waiting":
            return run.run_id
        assert time.monotonic() < deadline, "the step never started waiting for its retry"
        await asyncio.sleep(0.02)


def test_the_run_page_shows_when_a_waiting_step_runs_again() -> None:
    runtime.reset_storage()
    run_id = async_to_sync(_enqueue_until_waiting)()
    html = staff("admin", superuser=True).get(run_url(run_id)).content.decode()
    assert "next try at" in html
    assert html.count('class="wf-failed-attempt"') == 1
