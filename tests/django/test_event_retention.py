"""EVENT_RETENTION_SECONDS: how long an event nobody waits on yet is kept."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from django.test import override_settings

import workflows_app
from workflows_app import create_step, create_workflow
from workflows_app.core import runtime

pytestmark = pytest.mark.django_db(transaction=True)


async def _await_payment(ctx: Any) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend(event="paid-retention", key=ctx.input_data["order"])
    return {"paid": ctx.resume_data}


payment = create_workflow("retention-payment").then(create_step("await", execute=_await_payment)).commit()


async def suspended_after_its_look(order: str) -> str:
    """Start a run waiting on ``order``'s payment; its status once its look for kept events is done."""
    run = await payment.acreate_run()
    await run.astart({"order": order})
    deadline = time.monotonic() + 30
    while await run.storage.aowes(run.run_id, ("match",)):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await run.engine.await_settled(run.run_id)
    record = await run.arefresh()
    assert record is not None
    return record.status


async def test_an_event_past_its_retention_is_not_delivered() -> None:
    with override_settings(WORKFLOWS={"EVENT_RETENTION_SECONDS": 0}):
        runtime.reset_storage()
        order = f"o-{uuid.uuid4().hex[:8]}"
        assert await workflows_app.asend_event("paid-retention", {"amount": 1}, key=order) == []
        assert await suspended_after_its_look(order) == "suspended"


async def test_an_event_within_its_retention_is_delivered() -> None:
    with override_settings(WORKFLOWS={"EVENT_RETENTION_SECONDS": 3600}):
        runtime.reset_storage()
        order = f"o-{uuid.uuid4().hex[:8]}"
        assert await workflows_app.asend_event("paid-retention", {"amount": 1}, key=order) == []
        assert await suspended_after_its_look(order) == "success"
