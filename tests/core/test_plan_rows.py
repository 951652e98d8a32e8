"""The run state names the step rows that hold values; ``plan`` reads them back (``plan/_rows.py``)."""

from __future__ import annotations

import json
from typing import Any

from workflows_app import create_step, create_workflow
from workflows_app.core.plan import Rows, StepTable, new_state, plan
from workflows_app.core.storage import StepRecord

from .driver import Builder, Driver, digest


async def _unused(ctx: Any) -> Any:
    raise AssertionError("plan must not run user code")


def largest_state(driver: Driver) -> int:
    return max(len(json.dumps(applied.state)) for applied in driver.history)


def test_no_state_of_a_foreach_grows_with_its_items_and_its_output_comes_from_the_item_rows() -> None:
    short = Driver(Builder().build([("foreach", 5, 2, ("step",))]))
    short.run({})
    long = Driver(Builder().build([("foreach", 300, 2, ("step",))]))
    long.run({})
    assert largest_state(long) < largest_state(short) + 200
    assert [item["in"] for item in long.result] == [digest(index) for index in range(300)]


def v1_foreach_state() -> dict[str, Any]:
    """A run state written before values moved to rows: item 1 of 3 running, item 0 done."""
    state = new_state("r")
    state.update(v=1, status="running", counts={"each": 2}, order=4)
    row = {"path": "each", "input": [10, 20, 30], "started_at": 1, "iter": 0}
    node = {
        "kind": "foreach",
        "row": row,
        "outputs": [11, None, None],
        "next": 2,
        "batch": [1],
        "results": {},
    }
    state["frames"][""] = {
        "wf": "core-rows-v1",
        **{"scope": "", "input": [10, 20, 30], "prev": [10, 20, 30], "i": 0, "node": node},
        **{"parent": None, "iter": 0, "started_at": 1},
    }
    task = {"kind": "step", "frame": "", "entry": 0, "step": "each", "path": "each", "input": 20}
    task |= {"attempt": 0, "status": "running", "fe": 1, "item": None, "iter": 0, "loop": False}
    state["tasks"]["/0:each#1"] = {**task, "run_count": 1, "started_at": 2, "order": 3, "handout": 4}
    return state


def test_a_run_state_of_version_1_goes_on_reading_its_items_and_outputs() -> None:
    each, after = create_step("each", execute=_unused), create_step("after", execute=_unused)
    workflow = create_workflow("core-rows-v1").foreach(each).then(after).commit()
    table = StepTable(
        [
            StepRecord(path="each", status="running", payload=[10, 20, 30], started_at=1),
            StepRecord(path="each", foreach_index=0, status="success", payload=10, output=11),
            StepRecord(path="each", foreach_index=1, status="running", payload=20),
        ]
    )

    def report(state: dict[str, Any], key: str, output: Any, now: int) -> list[dict[str, Any]]:
        event = {"type": "task-done", "key": key, "handout": state["tasks"][key]["handout"], "now": now}
        _, actions = plan(
            workflow,
            state,
            {**event, "outcome": {"status": "success", "output": output}},
            rows=Rows(table, "r"),
        )
        for action in actions:
            if action["type"] == "record":
                table.write(action["record"])
        return [action for action in actions if action["type"] == "run"]

    state = v1_foreach_state()
    (third,) = report(state, "/0:each#1", 21, 5)
    assert (state["v"], third["key"], third["task"]["input"]) == (2, "/0:each#2", 30)
    (following,) = report(state, "/0:each#2", 31, 6)
    assert (following["key"], following["task"]["input"]) == ("/1:after", [11, 21, 31])
    foreach_row = table.rows["each", None, 0, 0]
    assert (foreach_row.status, foreach_row.payload, foreach_row.output) == (
        "success",
        [10, 20, 30],
        [11, 21, 31],
    )
