"""Properties of ``plan`` on random graphs of no-op steps, driven to completion by hand.

Graphs mix sequences, parallel blocks, branches, foreach, dountil loops, sleeps and
nested workflows (see driver.py). Completions are delivered in an order hypothesis
chooses, so parallel work finishes in every interleaving.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows_app.core.plan import Rows, StepTable, new_state, plan

from .driver import Builder, Built, Driver, Shape

STEP: Shape = ("step",)


def children(entries: st.SearchStrategy[list[Shape]]) -> st.SearchStrategy[Shape]:
    return st.one_of(st.just(STEP), entries.map(lambda inner: ("nested", inner)))


def entry(inner: st.SearchStrategy[list[Shape]]) -> st.SearchStrategy[Shape]:
    child = children(inner)
    return st.one_of(
        st.just(STEP),
        st.lists(child, min_size=1, max_size=3).map(lambda cs: ("parallel", cs)),
        st.lists(st.tuples(st.booleans(), child), min_size=1, max_size=3).map(lambda arms: ("branch", arms)),
        st.tuples(st.integers(0, 4), st.integers(1, 3), child).map(lambda t: ("foreach", *t)),
        st.tuples(st.integers(1, 3), child).map(lambda t: ("loop", *t)),
        st.sampled_from([0, 0.5, 2]).map(lambda seconds: ("sleep", seconds)),
        inner.map(lambda nested: ("nested", nested)),
    )


shapes: st.SearchStrategy[list[Shape]] = st.recursive(
    st.lists(st.just(STEP), min_size=1, max_size=2),
    lambda inner: st.lists(entry(inner), min_size=1, max_size=4),
    max_leaves=12,
)
orders = st.lists(st.integers(0, 1_000), max_size=200)
fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chooser(choices: list[int]) -> Any:
    """Pick pending keys by the drawn numbers, then the first one when they run out."""
    picks = iter(choices)
    return lambda keys: next(picks, 0)


def drive(shape: list[Shape], choices: list[int]) -> tuple[Built, Driver]:
    built = Builder().build(shape)
    driver = Driver(built, chooser(choices))
    driver.run({"start": True})
    return built, driver


@fast
@given(shapes, orders)
def test_a_run_of_no_op_steps_succeeds_and_runs_every_step_exactly_once(
    shape: list[Shape], choices: list[int]
) -> None:
    """Every step path runs as often as its foreach items and loop iterations say; no arm not taken."""
    built, driver = drive(shape, choices)
    assert driver.state["status"] == "success"
    assert driver.state["tasks"] == {} and driver.state["timers"] == {} and driver.state["frames"] == {}
    steps = [task for task in driver.handed_out if task["kind"] == "step"]
    assert Counter(task["path"] for task in steps) == +built.expected
    handouts = [task["handout"] for task in driver.handed_out]
    assert len(handouts) == len(set(handouts))


@fast
@given(shapes, orders)
def test_events_are_never_duplicated(shape: list[Shape], choices: list[int]) -> None:
    """One start and one finish; each step execution starts once and ends once.

    Identical events may legitimately come from different executions (two foreach
    items of a nested workflow report the same progress), so duplicates are looked
    for within one application of ``plan`` and per step execution.
    """
    _, driver = drive(shape, choices)
    for applied in driver.history:
        texts = [json.dumps(a["event"], sort_keys=True) for a in applied.actions if a["type"] == "event"]
        assert len(texts) == len(set(texts))
    types = [event["type"] for event in driver.events]
    assert types[0] == "workflow-start"
    assert types[-1] == "workflow-finish"
    assert types.count("workflow-start") == types.count("workflow-finish") == 1
    per_call: dict[str, list[str]] = {}
    for event in driver.events:
        call = event["payload"].get("step_call_id")
        if call is not None and event["type"] in ("workflow-step-start", "workflow-step-result"):
            per_call.setdefault(call, []).append(event["type"])
    for sequence in per_call.values():  # a loop runs the same call again: start, result, start, result...
        assert sequence == ["workflow-step-start", "workflow-step-result"] * (len(sequence) // 2)
    starts = sum(len(sequence) // 2 for sequence in per_call.values())
    assert starts == len([task for task in driver.handed_out if task["kind"] == "step"])


@fast
@given(shapes, orders)
def test_the_state_survives_json_at_every_point(shape: list[Shape], choices: list[int]) -> None:
    """What the evented engine stores and reads back is what ``plan`` left, after every event."""
    _, driver = drive(shape, choices)  # the driver checks the round trip after every event
    for applied in driver.history:
        assert json.loads(json.dumps(applied.state)) == applied.state
        assert json.loads(json.dumps(applied.event)) == applied.event


@fast
@given(shapes, orders)
def test_plan_is_deterministic(shape: list[Shape], choices: list[int]) -> None:
    """Replaying the same events from a fresh state gives the same states and actions."""
    built, driver = drive(shape, choices)
    replayed, table = new_state("core-run"), StepTable()
    for applied in driver.history:
        event = json.loads(json.dumps(applied.event))
        replayed, actions = plan(built.workflow, replayed, event, rows=Rows(table, "core-run"))
        for action in actions:
            if action["type"] == "record":
                table.write(action["record"])
        assert replayed == applied.state
        assert actions == applied.actions


@fast
@given(shapes, orders, st.lists(st.integers(0, 1_000), max_size=30))
def test_a_task_done_delivered_twice_changes_nothing_the_second_time(
    shape: list[Shape], choices: list[int], replays: list[int]
) -> None:
    """Completions come again: one drawn at random after each step, and every one whose
    key is in use again (a later loop iteration, a later foreach batch) right away."""
    built = Builder().build(shape)
    clean = Driver(built, chooser(choices))
    clean.run({"start": True})

    driver = Driver(built, chooser(choices))
    driver.start({"start": True})
    delivered: list[dict[str, Any]] = []
    picks = iter(replays)
    while driver.pending:
        keys = sorted(driver.pending)
        key = keys[driver.choose(keys) % len(keys)]
        if driver.pending[key]["type"] == "task-done":
            delivered.append(driver.pending[key])
        driver.deliver(key)
        again = [done for done in delivered if done["key"] in driver.state["tasks"]]
        pick = next(picks, None)
        if pick is not None and delivered:
            again.append(delivered[pick % len(delivered)])
        for done in again:
            before = json.loads(json.dumps(driver.state))
            state, actions = plan(
                built.workflow, driver.state, dict(done, now=driver.tick()), rows=driver.rows
            )
            assert actions == []
            assert state == before
    assert driver.state["status"] == "success"
    assert driver.result == clean.result
    assert driver.final_rows() == clean.final_rows()


@fast
@given(shapes, orders, orders)
def test_the_order_in_which_parallel_work_completes_does_not_change_the_outcome(
    shape: list[Shape], first: list[int], second: list[int]
) -> None:
    """Two delivery orders of the same run: same result, same rows, same kinds of events."""
    built = Builder().build(shape)
    one, other = Driver(built, chooser(first)), Driver(built, chooser(second))
    one.run({"start": True})
    other.run({"start": True})
    assert one.state["status"] == other.state["status"] == "success"
    assert one.result == other.result
    # Statuses only: the steps of a nested workflow run by several foreach items share
    # one row coordinate, so which item's output that row keeps depends on the order.
    assert statuses(one) == statuses(other)
    assert Counter(e["type"] for e in one.events) == Counter(e["type"] for e in other.events)


def statuses(driver: Driver) -> dict[tuple[Any, ...], str]:
    return {coordinate: status for coordinate, (status, _) in driver.final_rows().items()}
