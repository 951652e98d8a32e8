"""RetryPolicy and timeouts in the core: the delays ``plan`` arms, and what a definition refuses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from workflows_app import RetryConfig, RetryPolicy, create_step, create_workflow
from workflows_app.core.errors import NonRetryableError, WorkflowDefinitionError
from workflows_app.core.plan import DEADLINE, new_state, plan
from workflows_app.core.retry import policy_of


async def _unused(ctx: Any) -> Any:
    raise AssertionError("plan must not run user code")


FAILED = {"status": "failed", "error": {"name": "Error", "message": "try again"}}


def test_the_wait_grows_by_the_backoff_and_stops_at_the_cap() -> None:
    policy = RetryPolicy(attempts=5, delay=1.0, backoff=2.0, max_delay=5.0)
    assert [policy.delay_ms(n, "seed") for n in range(1, 6)] == [1000, 2000, 4000, 5000, 5000]


def test_jitter_moves_the_wait_within_its_fraction_the_same_way_for_the_same_seed() -> None:
    policy = RetryPolicy(attempts=3, delay=1.0, jitter=0.25)
    waits = [policy.delay_ms(1, f"run-{i}") for i in range(50)]
    assert all(750 <= wait <= 1250 for wait in waits)
    assert len(set(waits)) > 10  # runs are spread apart
    assert waits == [policy.delay_ms(1, f"run-{i}") for i in range(50)]  # and each run is reproducible


def test_durations_may_be_timedeltas() -> None:
    policy = RetryPolicy(attempts=1, delay=timedelta(milliseconds=250), max_delay=timedelta(seconds=1))
    assert (policy.delay, policy.max_delay) == (0.25, 1.0)
    step = create_step("slow", execute=_unused, timeout=timedelta(minutes=1))
    assert step.timeout == 60.0


def test_retry_config_is_the_spec_name_of_the_same_policy() -> None:
    assert RetryConfig(attempts=2, delay=0.5) == RetryPolicy(attempts=2, delay=0.5)


def test_a_step_policy_wins_and_an_int_replaces_only_the_attempts() -> None:
    base = RetryPolicy(attempts=10, delay=0.5, backoff=3.0, non_retryable=(KeyError,))
    own = RetryPolicy(attempts=1)
    assert policy_of(own, base) is own
    assert policy_of(None, base) is base
    assert policy_of(2, base) == RetryPolicy(attempts=2, delay=0.5, backoff=3.0, non_retryable=(KeyError,))


def test_non_retryable_types_and_the_library_error_are_never_retried() -> None:
    policy = RetryPolicy(attempts=3, non_retryable=(KeyError,))
    assert not policy.retryable(KeyError("x"))
    assert not policy.retryable(NonRetryableError("no"))
    assert policy.retryable(ValueError("again"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": -1}, "attempts must be an int >= 0"),
        ({"attempts": 1.5}, "attempts must be an int >= 0"),
        ({"attempts": True}, "attempts must be an int >= 0"),
        ({"backoff": "2"}, "backoff must be >= 1"),
        ({"jitter": None}, "jitter must be between 0 and 1"),
        ({"delay": -1}, "delay must be seconds >= 0"),
        ({"delay": "1s"}, "delay must be seconds >= 0"),
        ({"backoff": 0.5}, "backoff must be >= 1"),
        ({"jitter": 2.0}, "jitter must be between 0 and 1"),
        ({"max_delay": -3}, "max_delay must be seconds >= 0"),
        ({"non_retryable": (KeyError, "ValueError")}, "non_retryable must be exception types"),
    ],
)
def test_a_bad_policy_fails_when_it_is_defined(options: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=message):
        RetryPolicy(**options)


def test_bad_timeouts_and_retries_fail_when_they_are_defined() -> None:
    with pytest.raises(WorkflowDefinitionError, match="timeout must be > 0"):
        create_step("s", execute=_unused, timeout=0)
    with pytest.raises(WorkflowDefinitionError, match="timeout must be seconds"):
        create_workflow("core-bad-timeout", timeout=-5)
    with pytest.raises(WorkflowDefinitionError, match="retries must be an int >= 0 or a RetryPolicy"):
        create_step("s", execute=_unused, retries="3")  # type: ignore[arg-type]


def test_a_retry_waits_on_a_timer_armed_for_the_policy_delay_and_shows_as_waiting() -> None:
    policy = RetryPolicy(attempts=2, delay=1.0, backoff=2.0)
    workflow = create_workflow("core-retry-backoff", retry_config=policy)
    workflow = workflow.then(create_step("flaky", execute=_unused)).commit()
    state, actions = plan(workflow, new_state("r"), {"type": "start", "input": {}, "now": 1_000})
    (first,) = [a for a in actions if a["type"] == "run"]
    report = {"type": "task-done", "key": first["key"], "handout": first["task"]["handout"]}
    state, actions = plan(workflow, state, {**report, "outcome": FAILED, "now": 2_000})
    assert not [a for a in actions if a["type"] == "run"]  # nothing runs until the timer fires
    (timer,) = [a for a in actions if a["type"] == "timer"]
    assert (timer["key"], timer["at"]) == (first["key"], 3_000)
    rows = [a["record"] for a in actions if a["type"] == "record"]
    assert [(r.attempt, r.status) for r in rows] == [(0, "failed"), (1, "waiting")]
    assert rows[1].metadata == {"retry_at": 3_000}
    (event,) = [a["event"] for a in actions if a["type"] == "event"]
    assert event["type"] == "workflow-step-retry"
    assert {k: event["payload"][k] for k in ("id", "attempt", "retry_at")} == {
        "id": "flaky",
        "attempt": 0,
        "retry_at": 3_000,
    }
    assert state["status"] == "running"  # a waiting retry keeps the run running
    state, actions = plan(
        workflow, state, {"type": "timer", "key": timer["key"], "handout": timer["n"], "now": 3_001}
    )
    (second,) = [a for a in actions if a["type"] == "run"]
    assert (second["task"]["attempt"], second["task"]["started_at"]) == (1, 3_001)
    report = {"type": "task-done", "key": second["key"], "handout": second["task"]["handout"]}
    state, actions = plan(workflow, state, {**report, "outcome": FAILED, "now": 4_000})
    (timer,) = [a for a in actions if a["type"] == "timer"]
    assert timer["at"] == 6_000  # doubled


def test_a_non_retryable_outcome_fails_the_step_at_once() -> None:
    workflow = create_workflow("core-retry-fatal", retry_config=RetryPolicy(attempts=3))
    workflow = workflow.then(create_step("fatal", execute=_unused)).commit()
    state, actions = plan(workflow, new_state("r"), {"type": "start", "input": {}, "now": 1})
    (first,) = [a for a in actions if a["type"] == "run"]
    report = {"type": "task-done", "key": first["key"], "handout": first["task"]["handout"], "now": 2}
    state, _ = plan(workflow, state, {**report, "outcome": {**FAILED, "non_retryable": True}})
    assert state["status"] == "failed"


def test_a_workflow_timeout_is_a_timer_that_fails_the_run_even_while_it_is_suspended() -> None:
    workflow = (
        create_workflow("core-deadline", timeout=10.0).then(create_step("ask", execute=_unused)).commit()
    )
    state, actions = plan(workflow, new_state("r"), {"type": "start", "input": {}, "now": 1_000})
    (deadline,) = [a for a in actions if a["type"] == "timer"]
    assert (deadline["key"], deadline["at"]) == (DEADLINE, 11_000)
    (run,) = [a for a in actions if a["type"] == "run"]
    report = {"type": "task-done", "key": run["key"], "handout": run["task"]["handout"], "now": 2_000}
    state, _ = plan(workflow, state, {**report, "outcome": {"status": "suspended"}})
    assert state["status"] == "suspended"  # the deadline does not keep the run from settling
    fire = {"type": "timer", "key": DEADLINE, "handout": deadline["n"], "now": 11_000}
    state, actions = plan(workflow, state, fire)
    assert state["status"] == "failed"
    assert state["error"]["name"] == "WorkflowTimeoutError"
    assert "did not finish within 10 s" in state["error"]["message"]
    assert [a["type"] for a in actions if a["type"] in ("cancel-tasks", "settle")] == [
        "cancel-tasks",
        "settle",
    ]
    assert plan(workflow, state, {**fire, "now": 11_001}) == (state, [])  # fired twice: once is enough


def test_a_restart_arms_the_same_deadline_again() -> None:
    workflow = create_workflow("core-deadline-restart", timeout=10.0)
    workflow = workflow.then(create_step("work", execute=_unused)).commit()
    state, actions = plan(workflow, new_state("r"), {"type": "start", "input": {}, "now": 1_000})
    (first,) = [a for a in actions if a["type"] == "timer"]
    state, actions = plan(workflow, state, {"type": "restart", "now": 5_000})
    (again,) = [a for a in actions if a["type"] == "timer"]
    assert (again["key"], again["at"]) == (DEADLINE, 11_000)
    stale = {"type": "timer", "key": DEADLINE, "handout": first["n"], "now": 11_000}
    assert plan(workflow, state, stale)[0]["status"] == "running"  # the dropped arming is ignored


def test_a_long_backoff_stops_growing_instead_of_overflowing() -> None:
    policy = RetryPolicy(attempts=5000, delay=1.0, backoff=3.0)
    assert policy.delay_ms(4000, "seed") == policy.delay_ms(4999, "seed") == 10 * 365 * 86_400_000
