"""The run page as an operator reads it: times, durations, JSON, labels, loops, cancel, timeline."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.test import Client, override_settings
from django.urls import reverse

from tests.admin.test_admin import staff, suspended_run
from workflows_app import Limit, create_step, create_workflow
from workflows_app.admin_display import (
    active_ms,
    duration,
    json_html,
    limit_waits,
    relative,
    shown_rows,
    timeline,
)
from workflows_app.core import runtime
from workflows_app.core.graph import SleepEntry
from workflows_app.core.mapping import short_label
from workflows_app.core.storage import StepRecord
from workflows_app.models import StepAttempt, WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)


async def _report(ctx: Any) -> Any:
    return {"summary": "x" * 600, "lines": [f"line {n}" for n in range(40)], "nested": {"ok": True}}


async def _count(ctx: Any) -> Any:
    return {"count": (ctx.input_data.get("count") or 0) + 1}


reporting = create_workflow("admin-report").then(create_step("report", execute=_report)).commit()
counting = (
    create_workflow("admin-loop")
    .dountil(create_step("count", execute=_count), lambda ctx: ctx.input_data["count"] >= 3)
    .commit()
)
napping = (
    create_workflow("admin-nap")
    .then(create_step("first", execute=_count))
    .sleep(600)
    .then(create_step("after", execute=_count))
    .commit()
)


def finished_run(workflow: Any, input_data: Any = None) -> str:
    runtime.reset_storage()
    run = async_to_sync(workflow.acreate_run)()
    result = async_to_sync(run.astart)(input_data or {})
    assert result.status == "success", result.error
    return str(run.run_id)


def page(client: Client, run_id: str) -> str:
    response = client.get(reverse("admin:workflows_app_workflowrun_change", args=[run_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_times_are_local_dates_with_how_long_ago_never_epoch_milliseconds() -> None:
    client = staff("admin", superuser=True)
    run_id = finished_run(reporting)
    started = StepAttempt.objects.get(run_id=run_id, path="report").started_at
    with override_settings(TIME_ZONE="Asia/Kolkata"):
        html = page(client, run_id)
    local = datetime.fromtimestamp(started / 1000, tz=UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    assert f'data-ms="{started}">{local:%Y-%m-%d %H:%M:%S}</time>' in html
    assert "+05:30" in html  # the machine-readable datetime carries the zone
    assert re.search(r'class="wf-ago">(just now|\d+ seconds? ago)<', html)
    assert html.count('<time class="wf-time"') >= 6  # started, updated, the step's two, each event
    assert not re.search(r">\s*1\d{12}\s*<", html), "an epoch-milliseconds figure is shown as text"


def test_relative_times_and_durations_read_as_words() -> None:
    now = 1_800_000_000_000
    assert relative(now - 500, now) == "just now"
    assert relative(now - 45_000, now) == "45 seconds ago"
    assert relative(now - 60_000, now) == "1 minute ago"
    assert relative(now - 3 * 86_400_000, now) == "3 days ago"
    assert relative(now + 7_200_000, now) == "in 2 hours"
    assert [duration(ms) for ms in (340, 2_500, 184_000, 7_500_000)] == [
        "340 ms",
        "2.5 s",
        "3 min 4 s",
        "2 h 5 min",
    ]


def test_a_step_duration_leaves_out_the_time_it_was_suspended() -> None:
    resumed = StepRecord(path="s", started_at=0, suspended_at=1_000, resumed_at=3_601_000, ended_at=3_602_000)
    assert active_ms(resumed) == 2_000
    waiting = StepRecord(path="s", status="suspended", started_at=0, suspended_at=1_500)
    assert active_ms(waiting, now=9_999_999) == 1_500
    plain = StepRecord(path="s", status="success", started_at=10, ended_at=260)
    assert active_ms(plain) == 250

    client = staff("admin", superuser=True)
    run_id = suspended_run()
    resume = reverse("admin:workflows_app_resume", args=[run_id, "decide"])
    client.post(resume, {"decide-approved": "on", "decide-reviewer": "bob"})
    row = StepAttempt.objects.get(run_id=run_id, path="decide")
    # As if the reviewer took an hour: the step worked 1.2 s before and 0.3 s after.
    StepAttempt.objects.filter(pk=row.pk).update(
        started_at=row.started_at,
        suspended_at=row.started_at + 1_200,
        resumed_at=row.started_at + 3_601_200,
        ended_at=row.started_at + 3_601_500,
    )
    html = page(client, run_id)
    assert '<td class="wf-active">1.5 s</td>' in html


def test_json_is_shown_as_indented_json_with_long_values_folded() -> None:
    client = staff("admin", superuser=True)
    run_id = finished_run(reporting)
    html = page(client, run_id)
    assert "{&#x27;" not in html and "&#x27;summary&#x27;" not in html  # no Python repr anywhere
    assert "&quot;nested&quot;: {" in html and "&quot;ok&quot;: true" in html
    assert "more characters</summary>" in html  # the 600-character string, folded
    assert "more lines</summary>" in html  # the 40-line list, folded
    folded = json_html({"text": "y" * 500})
    assert (
        re.sub("<[^>]+>", "", folded).count("y") == 500 and "… 352 more characters" in folded
    )  # 512-character line


def test_generated_ids_get_short_labels_with_the_full_id_on_hover() -> None:
    client = staff("admin", superuser=True)
    sleep_id = _sleep_id()
    assert short_label(sleep_id) == sleep_id[:10] + "…" and short_label("first") == "first"
    html = client.get(reverse("admin:workflows_app_workflows")).content.decode()
    assert f'title="{sleep_id}: pending" data-path="{sleep_id}"' in html
    assert f">{short_label(sleep_id)} <span" in html
    assert f">{sleep_id} <span" not in html


def test_a_loop_node_shows_its_iteration_count() -> None:
    client = staff("admin", superuser=True)
    run_id = finished_run(counting, {"count": 0})
    html = page(client, run_id)
    assert '<span class="wf-iterations">3 iterations</span>' in html
    assert html.count('class="wf-lane"') == 3  # each iteration is its own bar on the timeline


def test_a_canceled_run_shows_its_sleep_canceled_not_waiting(workflow_engine: str) -> None:
    client = staff("admin", superuser=True)
    runtime.reset_storage()
    run_id = async_to_sync(_waiting_in_sleep)(workflow_engine)
    response = client.post(reverse("admin:workflows_app_cancel", args=[run_id]))
    assert response.status_code == 302
    html = page(client, run_id)
    sleep_path = _sleep_id()
    assert f'class="wf-node wf-status-canceled" title="{sleep_path}: canceled"' in html
    assert ">waiting<" not in html


def _sleep_id() -> str:
    return next(entry.id for entry in napping.entries if isinstance(entry, SleepEntry))


async def _waiting_in_sleep(engine: str) -> str:
    run = await napping.acreate_run(engine=engine)
    await run.aenqueue({})
    storage = runtime.get_storage()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = await storage.aget_steps(run.run_id)
        if any(row.status == "waiting" for row in rows):
            return str(run.run_id)
        await asyncio.sleep(0.05)
    raise AssertionError("the run never reached its sleep")


def test_a_step_left_live_in_a_canceled_run_is_shown_canceled() -> None:
    rows = [StepRecord(path="a", status="success"), StepRecord(path="b", status="waiting")]
    assert [row.status for row in shown_rows(rows, "canceled")] == ["success", "canceled"]
    assert [row.status for row in shown_rows(rows, "running")] == ["success", "waiting"]


def test_the_timeline_draws_a_bar_per_step_from_start_to_end() -> None:
    rows = [
        StepRecord(path="a", status="success", started_at=1_000, ended_at=2_000),
        StepRecord(
            path="b", status="success", started_at=2_000, suspended_at=2_500, resumed_at=4_500, ended_at=5_000
        ),
    ]
    first, second = timeline(rows)
    assert (first.left, first.width) == (0.0, 25.0)
    assert (second.left, second.width) == (25.0, 75.0)
    assert (second.pause_left, second.pause_width) == (pytest.approx(16.67), pytest.approx(66.67))

    client = staff("admin", superuser=True)
    run_id = suspended_run()
    html = page(client, run_id)
    assert '<div class="wf-lane" data-path="decide">' in html
    assert 'class="wf-bar-pause" title="suspended"' in html


def test_a_run_that_is_not_suspended_has_no_pause_on_its_bars() -> None:
    client = staff("admin", superuser=True)
    run_id = finished_run(reporting)
    html = page(client, run_id)
    assert '<div class="wf-lane" data-path="report">' in html and 'class="wf-bar-pause"' not in html
    assert WorkflowRun.objects.get(pk=run_id).status == "success"


def test_the_runs_list_shows_when_each_run_started_in_local_time_and_how_long_ago() -> None:
    client = staff("admin", superuser=True)
    run_id = finished_run(reporting)
    created = WorkflowRun.objects.get(pk=run_id).created_at
    with override_settings(TIME_ZONE="America/New_York"):
        html = client.get(reverse("admin:workflows_app_workflowrun_changelist")).content.decode()
    local = created.astimezone(ZoneInfo("America/New_York"))
    assert f">{local:%Y-%m-%d %H:%M:%S}</time>" in html
    assert re.search(r'<td class="field-started">.*class="wf-ago">(just now|\d+ seconds? ago)<', html)


async def _hold(ctx: Any) -> Any:
    return await ctx.suspend({}) if ctx.resume_data is None else {}


one_at_a_time = (
    create_workflow("admin-limited", concurrency=Limit(1, key=lambda data: data["customer"]))
    .then(create_step("hold", execute=_hold))
    .commit()
)


def test_a_run_waiting_for_a_slot_of_its_workflows_limit_says_so() -> None:
    client = staff("admin", superuser=True)
    runtime.reset_storage()
    first, second = (async_to_sync(one_at_a_time.acreate_run)() for _ in range(2))
    assert async_to_sync(first.astart)({"customer": "ann"}).status == "suspended"
    async_to_sync(second.aenqueue)({"customer": "ann"})
    assert WorkflowRun.objects.get(pk=second.run_id).status == "pending"
    html = page(client, second.run_id)
    assert "Waiting for a slot of its workflow&#x27;s limit (1 at once, key &#x27;ann&#x27;)" in html
    assert "wf-limit-wait" not in page(client, first.run_id)


def test_a_step_waiting_on_its_limit_or_rate_is_named_with_its_bounds() -> None:
    gated = [
        {
            "key": "/0:call",
            "kind": "step",
            "limit_key": "step:call",
            "limit_n": 2,
            "rate_n": 100,
            "rate_ms": 60_000,
        }
    ]
    state = {"tasks": {"/0:call": {"path": "call"}}}
    assert limit_waits(gated, state) == ["Step call waits on its limit (2 at once, 100 per 60 s)"]
