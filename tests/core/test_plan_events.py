"""Unit tests of ``plan`` for steps that wait on an event or a deadline, with no engine."""

from __future__ import annotations

from typing import Any

from .driver import Builder, Driver
from .test_plan import done, runs, types

WAIT = {"event": "paid", "key": "o-1"}


def suspended_on_event(timeout_ms: int | None = None) -> tuple[Driver, list[dict[str, Any]]]:
    driver = Driver(Builder().build([("step",), ("step",)]))
    driver.start({})
    outcome: dict[str, Any] = {"status": "suspended", "output": None, "wait": WAIT}
    if timeout_ms is not None:
        outcome["timeout_ms"] = timeout_ms
    return driver, done(driver, "/0:step1", outcome)


def event(event_id: int, data: Any = None, name: str = "paid") -> dict[str, Any]:
    return {"type": "event", "event": {"id": event_id, "name": name, "data": data}, "keys": ["/0:step1"]}


def test_a_step_waiting_on_an_event_leaves_the_run_suspended_and_owes_a_look_for_kept_events() -> None:
    driver, actions = suspended_on_event()
    assert driver.state["status"] == "suspended"
    assert driver.state["tasks"]["/0:step1"]["wait"] == WAIT
    assert [a["type"] for a in actions if a["type"] in ("match", "waits")] == ["match", "waits"]
    (waits,) = [a["waits"] for a in actions if a["type"] == "waits"]
    assert waits == [["/0:step1", "paid", "o-1"]]
    events = [t for t in types(actions) if t.startswith("workflow-")]
    assert events[-2:] == ["workflow-step-suspended", "workflow-step-event-waiting"]


def test_an_event_resumes_the_waiting_step_with_its_data_and_is_taken_once() -> None:
    driver, _ = suspended_on_event()
    actions = driver.apply({**event(7, {"amount": 1}), "now": driver.tick()})
    assert runs(actions) == ["/0:step1"]
    (task,) = [a["task"] for a in actions if a["type"] == "run"]
    assert task["resume"] == {"amount": 1}
    assert "wait" not in task
    assert driver.state["received"] == [7]
    assert [a["waits"] for a in actions if a["type"] == "waits"] == [[]]
    assert "workflow-step-event-received" in types(actions)
    assert driver.apply({**event(7, {"amount": 1}), "now": driver.tick()}) == []


def test_an_event_of_another_name_changes_nothing() -> None:
    driver, _ = suspended_on_event()
    assert driver.apply({**event(8, name="shipped"), "now": driver.tick()}) == []
    assert driver.state["status"] == "suspended"


def test_a_deadline_resumes_the_step_with_no_data_and_timed_out() -> None:
    driver, actions = suspended_on_event(timeout_ms=5_000)
    (timer,) = [a for a in actions if a["type"] == "timer"]
    assert timer["at"] == driver.now + 5_000
    assert driver.state["status"] == "suspended"  # a deadline does not keep the run busy
    assert driver.state["timers"] == {}
    fired = driver.deliver("/0:step1")
    assert "workflow-step-timed-out" in types(fired)
    (task,) = [a["task"] for a in fired if a["type"] == "run"]
    assert task["resume"] is None
    assert task["timed_out"] is True


def test_a_deadline_that_fires_after_the_event_changes_nothing() -> None:
    driver, actions = suspended_on_event(timeout_ms=5_000)
    (timer,) = [a for a in actions if a["type"] == "timer"]
    driver.apply({**event(1, {"amount": 2}), "now": driver.tick()})
    late = driver.apply({"type": "timer", "key": "/0:step1", "handout": timer["n"], "now": timer["at"]})
    assert late == []


def test_a_restart_arms_the_deadlines_again_under_new_numbers() -> None:
    driver, actions = suspended_on_event(timeout_ms=5_000)
    (first,) = [a for a in actions if a["type"] == "timer"]
    driver.state["status"] = "running"  # as a run whose process died while another branch ran
    again = driver.apply({"type": "restart", "now": driver.tick()})
    (second,) = [a for a in again if a["type"] == "timer"]
    assert second["at"] == first["at"]
    assert second["n"] != first["n"]
