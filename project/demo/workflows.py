"""Demo workflows: one for each way of composing steps.

They are registered when Django starts (each installed app's ``workflows.py`` is
imported) and can be run with ``manage.py run_workflow <id> --input '<json>'``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from workflows_app import StepContext, create_step, create_workflow, step

# -- approval: a human decides, for as long as it takes -----------------------------


class ExpenseIn(BaseModel):
    employee: str
    amount: float = Field(gt=0)
    reason: str


class Decision(BaseModel):
    approved: bool
    reviewer: str
    comment: str = ""


@step(id="check-policy", input_schema=ExpenseIn)
async def check_policy(ctx: StepContext) -> dict[str, Any]:
    """Small expenses pass on their own; the rest need a manager."""
    expense = ctx.input_data
    return {**expense, "needs_review": expense["amount"] > 100}


@step(id="manager-approval", resume_schema=Decision)
async def manager_approval(ctx: StepContext) -> dict[str, Any] | None:
    """Suspend until a manager answers; the answer is validated against ``Decision``."""
    expense = ctx.input_data
    if not expense["needs_review"]:
        return {**expense, "approved": True, "reviewer": "policy"}
    if ctx.resume_data is None:
        await ctx.suspend(
            {
                "question": f"Approve {expense['amount']:.2f} for {expense['employee']}?",
                "reason": expense["reason"],
            }
        )
        return None
    return {**expense, **ctx.resume_data}


@step(id="record-decision")
async def record_decision(ctx: StepContext) -> dict[str, Any]:
    decision = ctx.input_data
    await ctx.writer.write({"message": f"expense {'approved' if decision['approved'] else 'rejected'}"})
    return {"employee": decision["employee"], "approved": decision["approved"], "by": decision["reviewer"]}


expense_approval = (
    create_workflow(
        "expense-approval", input_schema=ExpenseIn, description="A manager approves large expenses."
    )
    .then(check_policy)
    .then(manager_approval)
    .then(record_decision)
    .commit()
)

# -- parallel fan-out --------------------------------------------------------------


class OrderIn(BaseModel):
    order_id: str
    items: list[str]


async def _reserve(ctx: StepContext) -> dict[str, Any]:
    return {"reserved": len(ctx.input_data["items"])}


async def _charge(ctx: StepContext) -> dict[str, Any]:
    return {"charged": True, "order_id": ctx.input_data["order_id"]}


async def _notify(ctx: StepContext) -> dict[str, Any]:
    return {"notified": "warehouse"}


async def _summarize(ctx: StepContext) -> dict[str, Any]:
    branches = ctx.input_data
    return {"ready": all(branches.values()), "branches": sorted(branches)}


order_fulfilment = (
    create_workflow("order-fulfilment", input_schema=OrderIn, description="Three independent steps at once.")
    .parallel(
        [
            create_step("reserve-stock", execute=_reserve),
            create_step("charge-card", execute=_charge),
            create_step("notify-warehouse", execute=_notify),
        ]
    )
    .then(create_step("summarize", execute=_summarize))
    .commit()
)

# -- foreach with concurrency --------------------------------------------------------


class ImageList(BaseModel):
    images: list[str]


async def _list_images(ctx: StepContext) -> list[dict[str, str]]:
    return [{"name": name} for name in ctx.input_data["images"]]


async def _thumbnail(ctx: StepContext) -> dict[str, str]:
    await asyncio.sleep(0.05)  # stands for real work: resizing an image
    return {"thumbnail": f"thumbs/{ctx.input_data['name']}"}


thumbnails = (
    create_workflow("thumbnails", input_schema=ImageList, description="Four images at a time.")
    .then(create_step("list-images", execute=_list_images))
    .foreach(create_step("make-thumbnail", execute=_thumbnail), concurrency=4)
    .commit()
)

# -- loop --------------------------------------------------------------------------


class Target(BaseModel):
    value: int = 0
    target: int = 5


async def _increment(ctx: StepContext) -> dict[str, int]:
    return {"value": ctx.input_data["value"] + 1, "target": ctx.input_data["target"]}


count_up = (
    create_workflow("count-up", input_schema=Target, description="Repeat a step until a condition holds.")
    .dountil(
        create_step("increment", execute=_increment),
        lambda ctx: ctx.input_data["value"] >= ctx.input_data["target"],
    )
    .commit()
)

# -- nested workflow ---------------------------------------------------------------


class NewUser(BaseModel):
    email: str


async def _create_account(ctx: StepContext) -> dict[str, str]:
    return {"email": ctx.input_data["email"], "account": ctx.input_data["email"].split("@")[0]}


async def _send_welcome(ctx: StepContext) -> dict[str, str]:
    return {"sent_to": ctx.input_data["email"]}


async def _subscribe(ctx: StepContext) -> dict[str, Any]:
    return {"subscribed": True, "email": ctx.input_data["sent_to"]}


welcome = (
    create_workflow("send-welcome", description="Used as one step of onboarding.")
    .then(create_step("send-welcome-mail", execute=_send_welcome))
    .then(create_step("subscribe-newsletter", execute=_subscribe))
    .commit()
)

onboarding = (
    create_workflow("onboarding", input_schema=NewUser, description="A workflow with a nested workflow.")
    .then(create_step("create-account", execute=_create_account))
    .then(welcome)
    .commit()
)

# -- sleep -------------------------------------------------------------------------


class Reminder(BaseModel):
    message: str
    delay_seconds: float = 2.0


async def _remind(ctx: StepContext) -> dict[str, str]:
    await ctx.writer.write({"reminder": ctx.input_data["message"]})
    return {"reminded": ctx.input_data["message"]}


reminder = (
    create_workflow("reminder", input_schema=Reminder, description="A durable sleep, then a step.")
    .sleep(lambda ctx: ctx.input_data["delay_seconds"])
    .then(create_step("remind", execute=_remind))
    .commit()
)

# -- an agent drafts, a human approves, then it is published -------------------------


class AnnouncementIn(BaseModel):
    topic: str


class Review(BaseModel):
    approved: bool
    text: str | None = None  # the reviewer's edit of the draft, if any


def announcement_model(ctx: StepContext) -> Any:
    """The drafting model, chosen each run: ``WORKFLOWS_DEMO_MODEL`` (any model string
    pydantic-ai accepts), OpenAI when its key is set, else a test model that needs no key."""
    if named := os.environ.get("WORKFLOWS_DEMO_MODEL"):
        return named
    if os.environ.get("OPENAI_API_KEY"):
        return "openai:gpt-4o-mini"
    return TestModel(custom_output_text=f"Announcing {ctx.input_data['prompt'].rsplit(': ', 1)[-1]}!")


drafter = Agent(
    name="drafter",
    description="Writes a first draft of an announcement.",
    instructions="You write short, friendly product announcements of two sentences at most.",
)


@step(id="human-review", resume_schema=Review)
async def human_review(ctx: StepContext) -> dict[str, Any] | None:
    """Suspend until a person approves (or edits) the agent's draft."""
    if ctx.resume_data is None:
        await ctx.suspend({"question": "Publish this announcement?", "draft": ctx.input_data["text"]})
        return None
    review = ctx.resume_data
    return {"approved": review["approved"], "text": review["text"] or ctx.input_data["text"]}


@step(id="publish")
async def publish(ctx: StepContext) -> dict[str, Any]:
    decision = ctx.input_data
    if decision["approved"]:
        await ctx.writer.write({"published": decision["text"]})
    return {"published": decision["approved"], "text": decision["text"]}


announcement = (
    create_workflow(
        "announcement",
        input_schema=AnnouncementIn,
        description="An agent drafts, a person approves, then it is published.",
    )
    .map({"prompt": {"template": "Write an announcement about: ${inputData.topic}"}})
    .then(create_step(drafter, model=announcement_model, temperature=0.7))
    .then(human_review)
    .then(publish)
    .commit()
)
