"""``/workflows``: listing the registered workflows, and starting runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import AsyncClient

from .conftest import API, problem, start, until_status
from .workflows import Gate


async def test_list_workflows_shows_schemas_and_graph(api: AsyncClient) -> None:
    response = await api.get(f"{API}/workflows")
    assert response.status_code == 200
    workflows = {item["id"]: item for item in response.json()}
    echo = workflows["api-echo"]
    assert echo["description"] == "Greets, and says its mood."
    assert echo["input_schema"]["properties"]["name"] == {"title": "Name", "type": "string"}
    assert echo["state_schema"]["properties"]["mood"]["default"] == "fine"
    assert echo["graph"][0]["type"] == "step"
    assert echo["graph"][0]["steps"][0]["id"] == "greet"
    approval = workflows["api-approval"]
    ask = next(step for step in approval["steps"] if step["path"] == "ask")
    assert ask["resume_schema"]["required"] == ["approved", "reviewer"]
    assert [step["path"] for step in approval["steps"]] == ["ask", "record"]


async def test_get_one_workflow(api: AsyncClient) -> None:
    response = await api.get(f"{API}/workflows/api-gated")
    assert response.status_code == 200
    assert response.json()["steps"][0]["path"] == "wait"


async def test_unknown_workflow_is_404(api: AsyncClient) -> None:
    problem(await api.get(f"{API}/workflows/api-nope"), 404, "workflow-not-found")
    response = await api.post(f"{API}/workflows/api-nope/runs", {}, content_type="application/json")
    problem(response, 404, "workflow-not-found")


async def test_start_and_wait_returns_the_finished_run(api: AsyncClient, engine: str) -> None:
    run = await start(
        api,
        "api-echo",
        input_data={"name": "Ada", "times": 2},
        initial_state={"mood": "glad"},
        resource_id="user-7",
        request_context={"tenant": "t1"},
        wait=True,
    )
    assert run["status"] == "success"
    assert run["engine"] == engine
    assert run["result"] == {"greeting": "hello Ada hello Ada", "mood": "glad"}
    assert run["resource_id"] == "user-7"
    assert run["request_context"] == {"tenant": "t1"}
    assert run["started_by"] == "owner"
    [step] = run["steps"]
    assert step["path"] == "greet"
    assert step["status"] == "success"
    assert step["payload"] == {"name": "Ada", "times": 2}
    assert step["started_at"] <= step["ended_at"]
    assert step["duration_ms"] == step["ended_at"] - step["started_at"]


async def test_start_without_wait_answers_at_once(
    api: AsyncClient, engine: str, gate: tuple[str, Gate]
) -> None:
    name, held = gate
    response = await api.post(
        f"{API}/workflows/api-gated/runs", {"input_data": {"gate": name}}, content_type="application/json"
    )
    assert response.status_code == 201
    run = response.json()
    assert response["Location"] == f"{API}/runs/{run['run_id']}"
    assert run["status"] in ("pending", "running")
    await asyncio.wait_for(held.entered.wait(), 10)
    held.release.set()
    done = await until_status(api, run["run_id"], "success")
    assert done["result"] == {"passed": name}


async def test_wait_gives_up_after_its_timeout(api: AsyncClient, engine: str, gate: tuple[str, Gate]) -> None:
    name, held = gate
    run = await start(api, "api-gated", input_data={"gate": name}, wait=True, timeout=0.05)
    assert run["status"] == "running"
    held.release.set()
    await until_status(api, run["run_id"], "success")


async def test_start_and_wait_until_suspended(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "laptop"}, wait=True)
    assert run["status"] == "suspended"
    assert run["suspended"] == [["ask"]]


async def test_invalid_input_is_422_with_field_errors(api: AsyncClient) -> None:
    response = await api.post(
        f"{API}/workflows/api-echo/runs", {"input_data": {"times": 0}}, content_type="application/json"
    )
    body = problem(response, 422, "invalid-input")
    assert {tuple(error["loc"]) for error in body["errors"]} == {
        ("body", "input_data", "name"),
        ("body", "input_data", "times"),
    }
    assert all(error["message"] and error["type"] for error in body["errors"])


async def test_invalid_initial_state_names_the_state(api: AsyncClient) -> None:
    body = {"input_data": {"name": "Ada"}, "initial_state": {"mood": ["not", "text"]}}
    response = await api.post(f"{API}/workflows/api-echo/runs", body, content_type="application/json")
    found = problem(response, 422, "invalid-input")
    assert found["errors"][0]["loc"] == ["body", "initial_state", "mood"]


async def test_request_not_matching_the_api_schema_is_422(api: AsyncClient) -> None:
    response = await api.post(
        f"{API}/workflows/api-echo/runs", {"wait": True, "timeout": -1}, content_type="application/json"
    )
    body = problem(response, 422, "invalid-request")
    assert body["errors"][0]["loc"] == ["body", "timeout"]


@pytest.mark.parametrize("payload", ["{not json", "[1, 2", "\x00"])
async def test_malformed_body_is_400(api: AsyncClient, payload: str) -> None:
    response = await api.post(f"{API}/workflows/api-echo/runs", payload, content_type="application/json")
    problem(response, 400, "malformed-request")


async def _start_keyed(api: AsyncClient, key: str, name: str) -> Any:
    body = {"input_data": {"name": name, "times": 1}, "wait": True}
    return await api.post(
        f"{API}/workflows/api-echo/runs",
        body,
        content_type="application/json",
        headers={"Idempotency-Key": key},
    )


async def test_a_retried_start_with_an_idempotency_key_gets_the_same_run(
    api: AsyncClient, engine: str
) -> None:
    first = await _start_keyed(api, "order-42", "Ada")
    assert first.status_code == 201, first.content
    again = await _start_keyed(api, "order-42", "Ada")
    assert again.status_code == 201, again.content
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again["Location"] == first["Location"]
    assert again.json()["status"] == "success"
    listed = (await api.get(f"{API}/runs", {"workflow_id": "api-echo"})).json()
    assert [item["run_id"] for item in listed["items"]] == [first.json()["run_id"]]


async def test_racing_starts_with_one_idempotency_key_make_one_run(api: AsyncClient, engine: str) -> None:
    responses = await asyncio.gather(*(_start_keyed(api, "race", "Bo") for _ in range(3)))
    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["run_id"] for response in responses}) == 1


async def test_an_idempotency_key_with_other_input_is_a_409(api: AsyncClient, engine: str) -> None:
    assert (await _start_keyed(api, "k-1", "Ada")).status_code == 201
    body = problem(await _start_keyed(api, "k-1", "Bo"), 409, "idempotency-conflict")
    assert "other input" in body["detail"]


async def test_an_empty_idempotency_key_is_a_422(api: AsyncClient) -> None:
    response = await _start_keyed(api, "", "Ada")
    assert response.status_code == 422, response.content
