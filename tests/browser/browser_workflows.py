"""The workflow the browser test drives, loaded by the server (WORKFLOWS_MODULES).

``prepare`` holds until the test creates the gate file, so the test can see the
run page while the run is running and then watch it change live; so does the
second try of ``fetch``, whose first try fails.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from workflows_app import Limit, RetryPolicy, create_step, create_workflow


class Article(BaseModel):
    title: str


class Review(BaseModel):
    approved: bool
    reviewer: str


async def _gate() -> None:
    gate = Path(os.environ["BROWSER_GATE_FILE"])
    while not gate.exists():  # the test opens the gate once it saw the page
        await asyncio.sleep(0.05)


async def _prepare(ctx: Any) -> Any:
    await _gate()
    return {"title": ctx.input_data["title"], "draft": f"About {ctx.input_data['title']}"}


async def _review(ctx: Any) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"draft": ctx.input_data["draft"]})
    return {"approved": ctx.resume_data["approved"], "by": ctx.resume_data["reviewer"]}


publishing = (
    create_workflow("browser-publishing", input_schema=Article)
    .then(create_step("prepare", execute=_prepare, input_schema=Article))
    .sleep(0.2)  # a generated id (sleep_…) on the graph, the timeline and the time travel list
    .then(create_step("review", execute=_review, resume_schema=Review))
    .commit()
)


class Payment(BaseModel):
    amount: int
    payer: str


async def _await_payment(ctx: Any) -> Any:
    if ctx.resume_data is None:
        order = ctx.input_data["title"]
        return await ctx.suspend({"order": order}, event="payment-received", key=order)
    return {"paid": ctx.resume_data}


payment = (
    create_workflow("browser-payment", input_schema=Article)
    .then(create_step("await-payment", execute=_await_payment, resume_schema=Payment))
    .commit()
)


class Note(BaseModel):
    note: str


async def _hold(ctx: Any) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"title": ctx.input_data["title"]})
    return {"note": ctx.resume_data["note"]}


limited = (
    create_workflow("browser-limited", input_schema=Article, concurrency=Limit(1))
    .then(create_step("hold", execute=_hold, resume_schema=Note))
    .commit()
)


async def _fetch(ctx: Any) -> Any:
    if ctx.retry_count == 0:
        raise ConnectionError(f"upstream down for {ctx.input_data['title']}")
    await _gate()
    return {"fetched": ctx.input_data["title"]}


retried = (
    create_workflow("browser-retried", input_schema=Article)
    .then(
        create_step("fetch", execute=_fetch, input_schema=Article, retries=RetryPolicy(attempts=2, delay=0.1))
    )
    .commit()
)
