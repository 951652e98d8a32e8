"""The optional cap on loop iterations (``WORKFLOWS["MAX_LOOP_ITERATIONS"]``), on every engine.

A loop whose condition never lets go would run for ever, one commit per
iteration; with the cap the run fails with ``LoopLimitError`` when its loop
asks for one iteration more than allowed. Workflow ids carry the
``loop-limit-`` prefix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from workflows_app import create_step, create_workflow
from workflows_app.core import runtime

from .conftest import Harness

CAP = 3


class Value(BaseModel):
    value: int


@pytest.fixture
def loop_cap(harness: Harness) -> Iterator[int]:
    """Engines built from here on allow each loop ``CAP`` iterations."""
    saved = runtime.get_engine_options()
    runtime.configure(
        engine_options={name: {**options, "max_loop_iterations": CAP} for name, options in saved.items()}
    )
    runtime.reset_storage()
    yield CAP
    runtime.configure(engine_options=saved)
    runtime.reset_storage()


def counting_workflow(workflow_id: str, stop_at: int) -> object:
    increment = create_step(
        "increment",
        execute=lambda ctx: {"value": ctx.input_data["value"] + 1},
        input_schema=Value,
        output_schema=Value,
    )
    return (
        create_workflow(workflow_id, input_schema=Value, output_schema=Value)
        .dountil(increment, lambda ctx: ctx.input_data["value"] >= stop_at)
        .commit()
    )


async def test_a_loop_that_asks_for_more_iterations_than_the_cap_fails_the_run(
    harness: Harness, loop_cap: int
) -> None:
    workflow = counting_workflow("loop-limit-runaway", stop_at=1_000_000)

    result = await harness.execute(workflow, {"value": 0})

    assert result.status == "failed"
    assert result.error is not None
    assert result.error["name"] == "LoopLimitError"
    assert f"ran {loop_cap} iterations" in result.error["message"]
    assert "MAX_LOOP_ITERATIONS" in result.error["message"]
    # The iterations the cap allowed did run: the last output is the third one's.
    assert result.steps["increment"].output == {"value": loop_cap}


async def test_a_loop_that_ends_within_the_cap_succeeds(harness: Harness, loop_cap: int) -> None:
    workflow = counting_workflow("loop-limit-within", stop_at=loop_cap)

    result = await harness.execute(workflow, {"value": 0})

    assert result.status == "success"
    assert result.result == {"value": loop_cap}
