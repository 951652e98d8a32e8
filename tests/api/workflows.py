"""The workflows the REST API tests run; ids start with ``api-`` (the registry is global)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from workflows_app import RetryConfig, StepContext, create_step, create_workflow


class Gate:
    """Lets a step block inside its code until the test releases it."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.entries = 0


# Steps find their gate by the name in their input; a test puts its gates here.
GATES: dict[str, Gate] = {}


class Greeting(BaseModel):
    name: str
    times: int = Field(1, ge=1)


class Mood(BaseModel):
    mood: str = "fine"


class Decision(BaseModel):
    approved: bool
    reviewer: str


async def greet(ctx: StepContext) -> dict[str, Any]:
    data = ctx.input_data
    return {"greeting": " ".join(["hello " + data["name"]] * data["times"]), "mood": ctx.state["mood"]}


echo = (
    create_workflow(
        "api-echo", input_schema=Greeting, state_schema=Mood, description="Greets, and says its mood."
    )
    .then(create_step("greet", execute=greet, input_schema=Greeting))
    .commit()
)


async def ask(ctx: StepContext) -> Any:
    if ctx.resume_data is None:
        return await ctx.suspend({"question": f"Approve {ctx.input_data['item']}?"}, label="approval")
    return {"item": ctx.input_data["item"], **ctx.resume_data}


approval = (
    create_workflow("api-approval", description="Waits for a person to decide.")
    .then(create_step("ask", execute=ask, resume_schema=Decision, suspend_schema=None))
    .then(create_step("record", execute=lambda ctx: {"done": ctx.input_data["approved"]}))
    .commit()
)


async def wait_at_gate(ctx: StepContext) -> dict[str, Any]:
    gate = GATES[ctx.input_data["gate"]]
    gate.entries += 1
    gate.entered.set()
    await gate.release.wait()
    return {"passed": ctx.input_data["gate"]}


gated = create_workflow("api-gated").then(create_step("wait", execute=wait_at_gate)).commit()


TRIES: dict[str, int] = {}


def flaky(ctx: StepContext) -> dict[str, Any]:
    """Fails on its first two tries of each key."""
    key = ctx.input_data["key"]
    TRIES[key] = TRIES.get(key, 0) + 1
    if TRIES[key] < 3:
        raise RuntimeError(f"try {TRIES[key]} failed")
    return {"tries": TRIES[key]}


retried = (
    create_workflow("api-retried", retry_config=RetryConfig(attempts=2))
    .then(create_step("flaky", execute=flaky))
    .commit()
)


def explode(ctx: StepContext) -> Any:
    raise ValueError("boom")


failing = create_workflow("api-failing").then(create_step("explode", execute=explode)).commit()


def ask_as(step_id: str) -> Any:
    async def execute(ctx: StepContext) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"who": step_id})
        return ctx.resume_data

    return create_step(step_id, execute=execute, resume_schema=Decision)


two_approvals = create_workflow("api-two-approvals").parallel([ask_as("legal"), ask_as("finance")]).commit()


class Payment(BaseModel):
    amount: int


async def await_payment(ctx: StepContext) -> Any:
    if ctx.resume_data is None and not ctx.timed_out:
        order = ctx.input_data["order"]
        return await ctx.suspend({"order": order}, event="payment-received", key=order)
    return {"paid": ctx.resume_data}


payment = (
    create_workflow("api-payment", description="Waits for the payment of an order.")
    .then(create_step("await-payment", execute=await_payment, resume_schema=Payment))
    .commit()
)
