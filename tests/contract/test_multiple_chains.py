"""Multiple chains: nested workflows side by side (spec: multiple-chains #1).

Workflow ids carry the ``mc-`` prefix.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

from workflows_app import Step, create_step, create_workflow

from .conftest import Calls, Harness
from .shapes import Empty


def success_step(calls: Calls, number: int) -> Step:
    """Returns ``{"result": "success<n>"}`` although its output schema is empty."""

    async def execute(ctx: Any) -> Any:
        calls.hit(f"step{number}", ctx.input_data)
        return {"result": f"success{number}"}

    return create_step(f"step{number}", execute=execute, input_schema=Empty, output_schema=Empty)


async def test_should_run_multiple_chains_in_parallel(harness: Harness, calls: Calls) -> None:
    """multiple-chains #1: should run multiple chains in parallel.

    Outputs are not stripped to the (empty) output schemas.
    """
    nested_a = (
        create_workflow("mc-nested-a", input_schema=Empty, output_schema=Empty)
        .then(success_step(calls, 1))
        .then(success_step(calls, 2))
        .then(success_step(calls, 3))
        .commit()
    )
    nested_b = (
        create_workflow("mc-nested-b", input_schema=Empty, output_schema=Empty)
        .then(success_step(calls, 4))
        .then(success_step(calls, 5))
        .commit()
    )
    workflow = (
        create_workflow("mc-chains-parallel", input_schema=Empty).parallel([nested_a, nested_b]).commit()
    )

    result = await harness.execute(workflow, {})

    assert result.status == "success"
    assert result.steps["mc-nested-a"].to_dict() == {
        "status": "success",
        "output": {"result": "success3"},
        "payload": {},
        "started_at": ANY,
        "ended_at": ANY,
    }
    assert result.steps["mc-nested-b"].to_dict() == {
        "status": "success",
        "output": {"result": "success5"},
        "payload": {},
        "started_at": ANY,
        "ended_at": ANY,
    }
    for key in ("mc-nested-a", "mc-nested-b"):
        assert isinstance(result.steps[key].started_at, int)
        assert isinstance(result.steps[key].ended_at, int)
    assert result.result == {"mc-nested-a": {"result": "success3"}, "mc-nested-b": {"result": "success5"}}
    assert [calls[f"step{n}"] for n in range(1, 6)] == [1, 1, 1, 1, 1]
