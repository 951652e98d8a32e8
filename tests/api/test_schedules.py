"""``/schedules``: create, read, change, pause, resume and delete, with problem documents for bad input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.test import AsyncClient

from workflows_app.models import WorkflowSchedule

from .conftest import API, bearer_client, make_user, problem

SCHEDULE_PERMISSIONS = tuple(f"{verb}_workflowschedule" for verb in ("view", "add", "change", "delete"))
DAILY = {"name": "daily-hello", "workflow_id": "api-echo", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}


async def operator() -> AsyncClient:
    user = await sync_to_async(make_user)("operator", perms=SCHEDULE_PERMISSIONS)
    return await sync_to_async(bearer_client)(user)


async def post(client: AsyncClient, path: str, body: Any = None) -> Any:
    return await client.post(f"{API}/schedules{path}", body or {}, content_type="application/json")


async def test_a_schedule_is_created_listed_and_shows_its_next_fire_times() -> None:
    client = await operator()
    response = await post(client, "", {**DAILY, "input": {"name": "team"}, "catch_up": "one"})
    assert response.status_code == 201, response.content
    made = response.json()
    assert {key: made[key] for key in (*DAILY, "input", "catch_up", "paused", "declared")} == {
        **DAILY,
        "input": {"name": "team", "times": 1},  # as the workflow's schema stores it
        "catch_up": "one",
        "paused": False,
        "declared": False,
    }
    ticks = [datetime.fromisoformat(t) for t in made["next_fire_times"]]
    assert len(ticks) == 5 and ticks == sorted(ticks)
    assert all(t.minute == 0 and t.hour in (7, 8) and t.weekday() < 5 for t in ticks)  # 09:00 in Paris

    listed = (await client.get(f"{API}/schedules")).json()
    assert [s["name"] for s in listed] == ["daily-hello"]
    assert (await client.get(f"{API}/schedules/daily-hello")).json()["cron"] == "0 9 * * 1-5"
    assert (await client.get(f"{API}/schedules?workflow_id=other")).json() == []


async def test_pause_resume_change_and_delete() -> None:
    client = await operator()
    await post(client, "", {**DAILY, "input": {"name": "team"}})
    paused = (await post(client, "/daily-hello/pause")).json()
    assert (paused["paused"], paused["next_fire_times"]) == (True, [])
    resumed = (await post(client, "/daily-hello/resume")).json()
    assert resumed["paused"] is False and len(resumed["next_fire_times"]) == 5

    response = await client.patch(
        f"{API}/schedules/daily-hello", {"cron": "*/15 * * * *"}, content_type="application/json"
    )
    changed = response.json()
    assert changed["cron"] == "*/15 * * * *"
    assert all(datetime.fromisoformat(t).minute % 15 == 0 for t in changed["next_fire_times"])

    assert (await client.delete(f"{API}/schedules/daily-hello")).status_code == 204
    assert not await WorkflowSchedule.objects.filter(name="daily-hello").aexists()
    problem(await client.get(f"{API}/schedules/daily-hello"), 404, "schedule-not-found")


async def test_bad_schedules_are_refused_at_once_with_a_problem() -> None:
    client = await operator()
    body = {**DAILY, "input": {"name": "team"}}
    problem(await post(client, "", {**body, "cron": "0 25 * * *"}), 422, "invalid-schedule")
    problem(await post(client, "", {**body, "timezone": "Mars/Olympus"}), 422, "invalid-schedule")
    problem(await post(client, "", {**body, "workflow_id": "nope"}), 422, "invalid-schedule")
    problem(await post(client, "", {**body, "catch_up": "some"}), 422, "invalid-request")
    problem(await post(client, "", {**body, "name": "has space"}), 422, "invalid-request")
    refused = problem(await post(client, "", {**body, "input": {"times": 2}}), 422, "invalid-input")
    assert refused["errors"]
    assert (await post(client, "", body)).status_code == 201
    problem(await post(client, "", body), 409, "schedule-exists")
    response = await client.patch(
        f"{API}/schedules/daily-hello", {"cron": "x"}, content_type="application/json"
    )
    problem(response, 422, "invalid-schedule")
    assert not await WorkflowSchedule.objects.filter(cron="x").aexists()


async def test_a_declared_schedule_is_changed_in_code_not_over_rest() -> None:
    client = await operator()
    await post(client, "", {**DAILY, "input": {"name": "team"}})
    await WorkflowSchedule.objects.filter(name="daily-hello").aupdate(declared=True)
    problem(await client.delete(f"{API}/schedules/daily-hello"), 409, "schedule-declared")
    response = await client.patch(
        f"{API}/schedules/daily-hello", {"cron": "* * * * *"}, content_type="application/json"
    )
    problem(response, 409, "schedule-declared")
    assert (await post(client, "/daily-hello/pause")).json()["paused"] is True  # pausing works


async def test_schedules_need_their_model_permissions(api: AsyncClient) -> None:
    problem(await api.get(f"{API}/schedules"), 403, "permission-denied")
    problem(await post(api, "", {**DAILY, "input": {"name": "team"}}), 403, "permission-denied")
    problem(await AsyncClient().get(f"{API}/schedules"), 401, "not-authenticated")
