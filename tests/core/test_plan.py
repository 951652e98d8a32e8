"""Unit tests of ``plan``: what each kind of entry decides, event by event, with no engine."""

from __future__ import annotations

import copy
import gc
from typing import Any, get_args

import pytest

from workflows_app import create_step, create_workflow
from workflows_app.core.graph import Entry
from workflows_app.core.plan import Planner, new_state, plan

from .driver import Builder, Driver


async def _unused(ctx: Any) -> Any:
    raise AssertionError("plan must not run user code")


def noop(step_id: str, **options: Any) -> Any:
    return create_step(step_id, execute=_unused, **options)


def types(actions: list[dict[str, Any]]) -> list[str]:
    return [a["event"]["type"] if a["type"] == "event" else a["type"] for a in actions]


def runs(actions: list[dict[str, Any]]) -> list[str]:
    return [a["key"] for a in actions if a["type"] == "run"]


def done(driver: Driver, key: str, outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliver ``outcome`` for the task of ``key`` instead of the driver's own answer."""
    driver.pending[key] = {**driver.pending[key], "outcome": outcome}
    return driver.deliver(key)


def test_a_sequence_runs_its_steps_one_after_the_other_and_returns_the_last_output() -> None:
    driver = Driver(Builder().build([("step",), ("step",)]))
    driver.start({"n": 1})
    assert list(driver.pending) == ["/0:step1"]
    assert types(driver.history[-1].actions) == ["workflow-start", "record", "workflow-step-start", "run"]
    actions = done(driver, "/0:step1", {"status": "success", "output": {"n": 2}})
    assert runs(actions) == ["/1:step2"]
    assert actions[-1]["task"]["input"] == {"n": 2}
    actions = done(driver, "/1:step2", {"status": "success", "output": {"n": 3}})
    assert types(actions)[-2:] == ["workflow-finish", "settle"]
    assert driver.state["status"] == "success"
    assert driver.result == {"n": 3}


def test_a_parallel_block_joins_on_its_last_child_whatever_the_order() -> None:
    driver = Driver(Builder().build([("parallel", [("step",), ("step",), ("step",)])]))
    driver.start({})
    assert sorted(driver.pending) == ["/0:step1", "/0:step2", "/0:step3"]
    for key in ["/0:step3", "/0:step1"]:
        done(driver, key, {"status": "success", "output": key[-1]})
        assert driver.state["status"] == "running"
    done(driver, "/0:step2", {"status": "success", "output": "2"})
    assert driver.result == {"step1": "1", "step2": "2", "step3": "3"}


def test_a_failed_child_of_a_parallel_block_fails_the_run() -> None:
    driver = Driver(Builder().build([("parallel", [("step",), ("step",)]), ("step",)]))
    driver.start({})
    error = {"name": "Error", "message": "boom"}
    done(driver, "/0:step1", {"status": "failed", "error": error})
    actions = done(driver, "/0:step2", {"status": "success", "output": 1})
    assert driver.state["status"] == "failed"
    assert driver.state["error"] == error
    assert runs(actions) == []


def test_foreach_keeps_input_order_and_never_runs_more_items_than_its_concurrency() -> None:
    built = Builder().build([("foreach", 4, 2, ("step",))])
    driver = Driver(built)
    driver.start({})
    done(driver, "/0:feed1", {"status": "success", "output": ["a", "b", "c", "d"]})
    assert sorted(driver.pending) == ["/1:step2#0", "/1:step2#1"]
    done(driver, "/1:step2#1", {"status": "success", "output": "B"})
    assert sorted(driver.pending) == ["/1:step2#0"]  # the batch waits for its slowest item
    done(driver, "/1:step2#0", {"status": "success", "output": "A"})
    assert sorted(driver.pending) == ["/1:step2#2", "/1:step2#3"]
    done(driver, "/1:step2#3", {"status": "success", "output": "D"})
    done(driver, "/1:step2#2", {"status": "success", "output": "C"})
    assert driver.result == ["A", "B", "C", "D"]
    progress = [
        e["payload"]["completed_count"] for e in driver.events if e["type"] == "workflow-step-progress"
    ]
    assert progress == [1, 2, 3, 4]


def test_foreach_over_something_else_than_a_list_fails_the_run() -> None:
    driver = Driver(Builder().build([("foreach", 1, 1, ("step",))]))
    driver.start({})
    done(driver, "/0:feed1", {"status": "success", "output": {"not": "a list"}})
    assert driver.state["status"] == "failed"
    assert "needs a list input" in driver.state["error"]["message"]


def test_a_branch_runs_only_the_arms_whose_condition_held() -> None:
    driver = Driver(Builder().build([("branch", [(False, ("step",)), (True, ("step",)), (True, ("step",))])]))
    driver.start({})
    assert list(driver.pending) == ["/0?"]
    driver.deliver("/0?")
    assert sorted(driver.pending) == ["/0:step2", "/0:step3"]
    driver.run_pending()
    assert set(driver.result) == {"step2", "step3"}


def test_dountil_runs_the_body_until_the_condition_holds_and_counts_iterations() -> None:
    driver = Driver(Builder().build([("loop", 3, ("step",))]))
    driver.run({"n": 0})
    bodies = [t for t in driver.handed_out if t["kind"] == "step"]
    assert [t["iter"] for t in bodies] == [1, 2, 3]
    conditions = [t["iteration"] for t in driver.handed_out if t["kind"] == "loop-condition"]
    assert conditions == [1, 2, 3]
    rows = [a["record"] for h in driver.history for a in h.actions if a["type"] == "record"]
    assert rows[-1].metadata == {"iteration_count": 3}


def test_a_sleep_waits_for_its_timer_and_passes_its_input_through() -> None:
    driver = Driver(Builder().build([("step",), ("sleep", 2), ("step",)]))
    driver.start({})
    done(driver, "/0:step1", {"status": "success", "output": {"kept": True}})
    (timer,) = [a for a in driver.history[-1].actions if a["type"] == "timer"]
    assert timer["at"] == driver.now + 2000
    assert "workflow-step-waiting" in types(driver.history[-1].actions)
    assert driver.state["timers"]
    actions = driver.deliver(timer["key"])
    assert driver.now >= timer["at"]
    assert runs(actions) == ["/2:step2"]
    assert actions[-1]["task"]["input"] == {"kept": True}


def test_a_timer_that_fires_twice_changes_nothing_the_second_time() -> None:
    built = Builder().build([("sleep", 1), ("step",)])
    driver = Driver(built)
    driver.start({})
    (key,) = driver.pending
    driver.deliver(key)
    before = copy.deepcopy(driver.state)
    state, actions = plan(built.workflow, driver.state, {"type": "timer", "key": key, "now": driver.tick()})
    assert (state, actions) == (before, [])


def test_a_late_report_of_an_earlier_loop_iteration_is_ignored() -> None:
    built = Builder().build([("loop", 2, ("step",))])
    driver = Driver(built)
    driver.start({})
    first = dict(driver.pending["/0:step1"])
    driver.deliver("/0:step1")
    driver.deliver("/0?")  # the condition: not yet; iteration 2 reuses the key
    assert driver.state["tasks"]["/0:step1"]["iter"] == 2
    before = copy.deepcopy(driver.state)
    state, actions = plan(built.workflow, driver.state, {**first, "now": driver.tick()})
    assert (state, actions) == (before, [])


def test_a_failed_step_with_retries_runs_again_and_a_late_report_of_the_first_attempt_is_ignored() -> None:
    workflow = create_workflow("core-unit-retry").then(noop("flaky", retries=1)).commit()
    state, actions = plan(workflow, new_state("r"), {"type": "start", "input": {}, "now": 1})
    (first,) = [a for a in actions if a["type"] == "run"]
    report = {"type": "task-done", "key": first["key"], "handout": first["task"]["handout"]}
    failed = {"status": "failed", "error": {"name": "Error", "message": "try again"}}
    state, actions = plan(workflow, state, {**report, "outcome": failed, "now": 2})
    (second,) = [a for a in actions if a["type"] == "run"]
    assert second["key"] == first["key"]
    assert second["task"]["attempt"] == 1
    before = copy.deepcopy(state)
    late = {**report, "outcome": {"status": "success", "output": "stale"}, "now": 3}
    assert plan(workflow, state, late) == (before, [])
    again = {**report, "handout": second["task"]["handout"], "outcome": {"status": "success", "output": 1}}
    state, actions = plan(workflow, state, {**again, "now": 4})
    assert (state["status"], actions[-1]) == ("success", {"type": "settle", "status": "success", "result": 1})


def test_a_suspended_step_settles_the_run_and_a_resume_hands_it_out_again() -> None:
    workflow = create_workflow("core-unit-suspend").then(noop("ask")).then(noop("after")).commit()
    state, actions = plan(workflow, new_state("r"), {"type": "start", "input": {}, "now": 1})
    (run,) = [a for a in actions if a["type"] == "run"]
    report = {"type": "task-done", "key": run["key"], "handout": run["task"]["handout"], "now": 2}
    state, actions = plan(
        workflow, state, {**report, "outcome": {"status": "suspended", "suspend_payload": 1}}
    )
    assert state["status"] == "suspended"
    assert actions[-1] == {"type": "settle", "status": "suspended"}
    resume = {"type": "resume", "keys": [run["key"]], "data": {"ok": True}, "now": 3}
    state, actions = plan(workflow, state, resume)
    (again,) = [a for a in actions if a["type"] == "run"]
    assert again["task"]["resume"] == {"ok": True}
    assert again["task"]["handout"] != report["handout"]
    before = copy.deepcopy(state)
    assert plan(workflow, state, {**report, "outcome": {"status": "suspended"}, "now": 4}) == (before, [])


def test_cancel_stops_running_tasks_and_ends_the_run_as_canceled() -> None:
    driver = Driver(Builder().build([("parallel", [("step",), ("step",)])]))
    driver.start({})
    actions = driver.apply({"type": "cancel", "now": driver.tick()})
    canceled = [a["record"] for a in actions if a["type"] == "record"]
    assert [(row.path, row.status) for row in canceled] == [("step1", "canceled"), ("step2", "canceled")]
    assert {"type": "cancel-tasks"} in actions
    assert types(actions)[-3:] == ["workflow-canceled", "workflow-finish", "settle"]
    assert driver.pending == {}
    assert driver.state["status"] == "canceled"
    assert driver.state["tasks"] == {}


def test_per_step_runs_one_step_then_pauses() -> None:
    workflow = create_workflow("core-unit-per-step").then(noop("one")).then(noop("two")).commit()
    state, actions = plan(workflow, new_state("r", per_step=True), {"type": "start", "input": {}, "now": 1})
    (run,) = [a for a in actions if a["type"] == "run"]
    report = {"type": "task-done", "key": run["key"], "handout": run["task"]["handout"], "now": 2}
    state, actions = plan(workflow, state, {**report, "outcome": {"status": "success", "output": 1}})
    assert state["status"] == "paused"
    assert runs(actions) == []
    assert types(actions)[-3:] == ["workflow-paused", "workflow-finish", "settle"]


def test_an_unknown_event_is_refused() -> None:
    workflow = create_workflow("core-unit-unknown").then(noop("one")).commit()
    with pytest.raises(ValueError, match="Unknown plan event"):
        plan(workflow, new_state("r"), {"type": "nonsense", "now": 1})


def test_every_kind_of_entry_and_every_stored_node_kind_has_one_handler() -> None:
    """A new kind of entry without a handler, or a stored node kind nobody reads, fails here, not in a run."""
    table = Planner(None, new_state("r"), 0).frames.table
    assert set(table.by_entry) == set(get_args(Entry))
    assert set(table.by_kind) == {
        "one",
        "multi",
        "branch",
        "loop",
        "foreach",
        "sleep",
    }  # stored in run states
    for entry_type, handler in table.by_entry.items():
        assert handler.entry is entry_type
        assert all(table.by_kind[kind] is handler for kind in handler.kinds)


def test_a_plan_leaves_nothing_for_the_garbage_collector() -> None:
    """Every commit plans: a reference cycle per plan made the collector run often under load."""
    workflow = create_workflow("plan-gc").then(create_step("a", execute=lambda ctx: 1)).commit()
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            plan(workflow, new_state("r"), {"type": "start", "now": 1, "input": {}})
        assert gc.collect() == 0
    finally:
        gc.enable()
