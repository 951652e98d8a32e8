"""Tools as steps (spec: interoperability #1-#4).

A tool is an object with ``id``, ``description``, ``input_schema``,
``output_schema`` and ``execute(input, context)``. #5 (a tool and an agent in
parallel) and #6 (a tool named by id, found in a Mastra instance's registry)
need agents and an agent/tool registry and are covered with those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workflows_app import create_step, create_workflow

from .conftest import Calls, Harness
from .processes import shared_list
from .shapes import Doubled, Value


@dataclass
class Tool:
    id: str
    description: str
    execute: Any
    input_schema: type[BaseModel] | None = None
    output_schema: type[BaseModel] | None = None


class Name(BaseModel):
    name: str


def double_tool() -> Tool:
    async def execute(data: Any, context: Any) -> Any:
        return {"doubled": data["value"] * 2}

    return Tool(
        id="double-tool",
        description="Doubles a number",
        execute=execute,
        input_schema=Value,
        output_schema=Doubled,
    )


async def test_should_be_able_to_use_all_action_types_in_a_workflow(harness: Harness, calls: Calls) -> None:
    """interoperability #1: should be able to use all action types in a workflow."""

    async def step1_action(ctx: Any) -> Any:
        calls.hit("step1")
        return {"name": "step1"}

    received: list[Any] = shared_list()

    async def tool_action(data: Any, context: Any) -> Any:
        calls.hit("tool")
        received.append((data, context is not None))
        return {"name": data["name"]}

    random_tool = Tool(
        id="random-tool",
        description="random-tool",
        execute=tool_action,
        input_schema=Name,
        output_schema=Name,
    )
    step1 = create_step("step1", execute=step1_action, output_schema=Name)
    workflow = create_workflow("interop-workflow").then(step1).then(create_step(random_tool)).commit()
    result = await harness.execute(workflow, {})
    assert (calls["step1"], calls["tool"]) == (1, 1)
    assert result.status == "success"
    assert result.steps["step1"].status == "success"
    assert result.steps["step1"].output == {"name": "step1"}
    assert result.steps["random-tool"].status == "success"
    assert result.steps["random-tool"].output == {"name": "step1"}
    assert result.steps["random-tool"].payload == {"name": "step1"}
    assert received[0][0] == {"name": "step1"}
    assert received[0][1] is True
    assert workflow.steps["random-tool"].component == "TOOL"
    assert workflow.steps["random-tool"].description == "random-tool"


async def test_should_execute_a_tool_via_the_tool_builder(harness: Harness) -> None:
    """interoperability #2: should execute a tool via the .tool() builder."""
    workflow = create_workflow("interop-declarative-tool", input_schema=Value).tool(double_tool()).commit()
    result = await harness.execute(workflow, {"value": 5})
    assert result.status == "success"
    assert result.steps["double-tool"].status == "success"
    assert result.steps["double-tool"].output == {"doubled": 10}
    assert workflow.steps["double-tool"].component == "TOOL"


async def test_should_chain_map_before_tool(harness: Harness) -> None:
    """interoperability #3: should chain .map() before .tool()."""

    async def plus_one(ctx: Any) -> Any:
        return {"value": ctx.input_data["value"] + 1}

    workflow = (
        create_workflow("interop-declarative-map-tool", input_schema=Value)
        .map(plus_one)
        .tool(double_tool())
        .commit()
    )
    result = await harness.execute(workflow, {"value": 5})
    assert result.status == "success"
    assert result.steps["double-tool"].status == "success"
    assert result.steps["double-tool"].output == {"doubled": 12}


async def test_should_execute_a_tool_via_then_create_step_tool(harness: Harness) -> None:
    """interoperability #4: should execute a tool via .then(createStep(tool))."""
    workflow = (
        create_workflow("interop-tool-option-b", input_schema=Value).then(create_step(double_tool())).commit()
    )
    result = await harness.execute(workflow, {"value": 5})
    assert result.status == "success"
    assert result.steps["double-tool"].status == "success"
    assert result.steps["double-tool"].output == {"doubled": 10}
    assert workflow.steps["double-tool"].component == "TOOL"
