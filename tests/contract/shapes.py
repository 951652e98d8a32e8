"""Step factories and schemas that many contract tests share, written once.

Each test file keeps the shapes only it uses; these are the ones several files
declared identically (``duplicates`` paired them).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

from workflows_app import Step, create_step

from .conftest import Calls


class Count(BaseModel):
    count: int


class Divisor(BaseModel):
    divisor: int


class Doubled(BaseModel):
    doubled: int


class Empty(BaseModel):
    pass


class FinalValue(BaseModel):
    finalValue: int


class Input(BaseModel):
    input: str


class Multiplier(BaseModel):
    multiplier: int


class NewValue(BaseModel):
    newValue: int


class Number(BaseModel):
    value: int


class Prompt(BaseModel):
    prompt: str


class Result(BaseModel):
    result: str


class StartValue(BaseModel):
    startValue: int


class TextValue(BaseModel):
    value: str


class UserInput(BaseModel):
    userInput: str


class Value(BaseModel):
    value: int


class ValueState(BaseModel):
    value: str


def counted(calls: Calls, step_id: str, fn: Any, **options: Any) -> Any:
    """A step whose user code is counted, returning ``fn(ctx)``."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        return fn(ctx)

    return create_step(step_id, execute=execute, **options)


def returning(calls: Calls, step_id: str, output: Any, **options: Any) -> Step:
    """A step that records its call and returns ``output``."""

    async def execute(ctx: Any) -> Any:
        calls.hit(step_id, ctx.input_data)
        return output

    return create_step(step_id, execute=execute, **options)


def new_run_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def items(*values: int) -> list[dict[str, int]]:
    return [{"value": value} for value in values]
