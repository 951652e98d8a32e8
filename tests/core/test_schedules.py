"""Schedules in the core: checked when made, ticks in their time zone, catch-up under a given clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from workflows_app import Schedule, create_step, create_workflow
from workflows_app.core.errors import WorkflowDefinitionError
from workflows_app.core.schedules import ScheduleError, due_ticks, next_ticks

HOURLY = "0 * * * *"


def at(hour: int, minute: int = 0, second: int = 0, day: int = 7) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def test_a_schedule_is_checked_when_made() -> None:
    with pytest.raises(ScheduleError, match="Invalid cron expression"):
        Schedule(cron="61 * * * *")
    with pytest.raises(ScheduleError, match="Unknown time zone 'Mars/Olympus'"):
        Schedule(cron=HOURLY, timezone="Mars/Olympus")
    with pytest.raises(ScheduleError, match="Unknown catch_up 'some'"):
        Schedule(cron=HOURLY, catch_up="some")  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="not JSON"):
        Schedule(cron=HOURLY, input={"at": object()})


def test_ticks_follow_the_time_zone_across_a_daylight_saving_change() -> None:
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer (clocks go forward on 2027-03-28).
    ticks = next_ticks("0 9 * * *", "Europe/Paris", datetime(2027, 3, 26, 12, tzinfo=UTC), 3)
    assert ticks == [
        datetime(2027, 3, 27, 8, tzinfo=UTC),
        datetime(2027, 3, 28, 7, tzinfo=UTC),
        datetime(2027, 3, 29, 7, tzinfo=UTC),
    ]


def test_a_tick_on_time_fires_under_every_policy() -> None:
    for policy in ("none", "one", "all"):
        due = due_ticks(HOURLY, "UTC", since=at(8), now=at(9, 0, 5), catch_up=policy)
        assert (due.ticks, due.cursor) == ([at(9)], at(9))


def test_nothing_is_due_before_the_next_tick() -> None:
    due = due_ticks(HOURLY, "UTC", since=at(9), now=at(9, 59), catch_up="all")
    assert (due.ticks, due.cursor) == ([], at(9))
    due = due_ticks(HOURLY, "UTC", since=at(9), now=at(9, 59), catch_up="one")
    assert (due.ticks, due.cursor) == ([], at(9))


@pytest.mark.parametrize(
    ("policy", "fired"),
    [("none", [at(12)]), ("one", [at(11), at(12)]), ("all", [at(9), at(10), at(11), at(12)])],
)
def test_catch_up_after_an_outage_with_a_tick_on_time(policy: str, fired: list[datetime]) -> None:
    """Nothing fired from 08:00 until 12:00:10: 9, 10 and 11 were missed, 12 is on time."""
    due = due_ticks(HOURLY, "UTC", since=at(8), now=at(12, 0, 10), catch_up=policy)
    assert (due.ticks, due.cursor) == (fired, at(12))


@pytest.mark.parametrize(
    ("policy", "fired"),
    [("none", []), ("one", [at(12)]), ("all", [at(9), at(10), at(11), at(12)])],
)
def test_catch_up_after_an_outage_between_ticks(policy: str, fired: list[datetime]) -> None:
    """Back at 12:30: every tick since 08:00 was missed; the cursor moves past all of them."""
    due = due_ticks(HOURLY, "UTC", since=at(8), now=at(12, 30), catch_up=policy)
    assert (due.ticks, due.cursor) == (fired, at(12))


def test_catching_up_all_goes_in_batches_and_the_cursor_follows() -> None:
    due = due_ticks("* * * * *", "UTC", since=at(0), now=at(12), catch_up="all", batch=100)
    assert len(due.ticks) == 100
    assert due.ticks[0] == at(0, 1) and due.cursor == due.ticks[-1] == at(1, 40)
    rest = due_ticks("* * * * *", "UTC", since=due.cursor, now=at(12), catch_up="all", batch=100)
    assert rest.ticks[0] == at(1, 41)


def test_a_long_outage_costs_a_few_ticks_of_work_for_none_and_one() -> None:
    due = due_ticks("* * * * *", "UTC", since=at(0, day=1), now=at(12, 0, 30), catch_up="one")
    assert (due.ticks, due.cursor) == ([at(11, 59), at(12)], at(12))


class Digest(BaseModel):
    kind: str


def test_a_declared_schedule_must_carry_valid_input() -> None:
    step = create_step("noop", execute=lambda ctx: None)
    with pytest.raises(WorkflowDefinitionError, match="schedule of workflow 'digest-bad' has invalid input"):
        create_workflow(
            "digest-bad", input_schema=Digest, schedule=Schedule(cron=HOURLY, input={"other": 1})
        ).then(step).commit()
    leap_day = Schedule(cron="0 9 29 2 *", input={"kind": "daily"})  # never due on the real clock in tests
    workflow = create_workflow("digest-good", input_schema=Digest, schedule=leap_day).then(step)
    assert workflow.commit().schedule == leap_day
    assert leap_day.next_ticks(at(9), 1) == [datetime(2028, 2, 29, 9, tzinfo=UTC)]
