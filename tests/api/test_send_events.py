"""Sending events through the API: to a run, and to every run waiting on a name and key."""

from __future__ import annotations

import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.test import AsyncClient

from .conftest import API, bearer_client, make_user, problem, start, until_status


async def send(client: AsyncClient, path: str, **body: Any) -> Any:
    return await client.post(f"{API}{path}", body, content_type="application/json")


def new_order() -> str:
    return f"o-{uuid.uuid4().hex[:8]}"


async def test_an_event_sent_to_a_run_resumes_its_waiting_step(api: AsyncClient, engine: str) -> None:
    order = new_order()
    run = await start(api, "api-payment", input_data={"order": order}, wait=True)
    assert run["status"] == "suspended"
    (step,) = run["steps"]
    assert step["waiting_for"] == {"event": "payment-received", "key": order, "timeout_at": None}
    response = await send(
        api, f"/runs/{run['run_id']}/send-event", name="payment-received", data={"amount": 4}
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "name": "payment-received",
        "key": None,
        "run_ids": [run["run_id"]],
        "kept": False,
    }
    done = await until_status(api, run["run_id"], "success")
    assert done["result"] == {"paid": {"amount": 4}}


async def test_an_event_sent_by_name_and_key_resumes_the_runs_waiting_on_them(
    api: AsyncClient, engine: str
) -> None:
    order = new_order()
    first = await start(api, "api-payment", input_data={"order": order}, wait=True)
    other = await start(api, "api-payment", input_data={"order": new_order()}, wait=True)
    response = await send(api, "/send-event", name="payment-received", key=order, data={"amount": 8})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "name": "payment-received",
        "key": order,
        "run_ids": [first["run_id"]],
        "kept": False,
    }
    assert (await until_status(api, first["run_id"], "success"))["result"] == {"paid": {"amount": 8}}
    assert (await api.get(f"{API}/runs/{other['run_id']}")).json()["status"] == "suspended"


async def test_an_event_nobody_waits_on_is_kept_for_the_first_run_that_does(
    api: AsyncClient, engine: str
) -> None:
    order = new_order()
    response = await send(api, "/send-event", name="payment-received", key=order, data={"amount": 2})
    assert response.json() == {"name": "payment-received", "key": order, "run_ids": [], "kept": True}
    run = await start(api, "api-payment", input_data={"order": order})
    assert (await until_status(api, run["run_id"], "success"))["result"] == {"paid": {"amount": 2}}


async def test_invalid_event_data_is_422_on_the_data_field(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-payment", input_data={"order": new_order()}, wait=True)
    response = await send(
        api, f"/runs/{run['run_id']}/send-event", name="payment-received", data={"amount": "x"}
    )
    body = problem(response, 422, "invalid-resume-data")
    assert [error["loc"] for error in body["errors"]] == [["body", "data", "amount"]]
    assert (await api.get(f"{API}/runs/{run['run_id']}")).json()["status"] == "suspended"


async def test_bad_requests_are_problems(api: AsyncClient, engine: str) -> None:
    problem(await send(api, "/send-event", name="", data={}), 422, "invalid-request")
    problem(await send(api, "/runs/missing/send-event", name="payment-received"), 404, "run-not-found")
    run = await start(api, "api-payment", input_data={"order": new_order()}, wait=True)
    await send(api, f"/runs/{run['run_id']}/send-event", name="payment-received", data={"amount": 1})
    await until_status(api, run["run_id"], "success")
    ended = await send(api, f"/runs/{run['run_id']}/send-event", name="payment-received", data={"amount": 1})
    problem(ended, 409, "run-not-active")


async def test_sending_needs_the_resume_permission(api: AsyncClient, engine: str) -> None:
    viewer = await sync_to_async(bearer_client)(await sync_to_async(make_user)("viewer", perms=()))
    problem(await send(viewer, "/send-event", name="payment-received", key="k"), 403, "permission-denied")


async def test_the_operations_are_in_the_openapi_document(api: AsyncClient) -> None:
    document = (await api.get(f"{API}/openapi.json")).json()
    for path in ("/workflows/api/send-event", "/workflows/api/runs/{run_id}/send-event"):
        operation = document["paths"][path]["post"]
        assert "application/problem+json" in operation["responses"]["422"]["content"]
    assert document["paths"]["/workflows/api/send-event"]["post"]["operationId"] == "send_event"


async def test_with_wait_the_answer_comes_once_the_run_settled(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-payment", input_data={"order": new_order()}, wait=True)
    path = f"/runs/{run['run_id']}/send-event"
    response = await send(api, path, name="payment-received", data={"amount": 6}, wait=True)
    assert response.json()["run_ids"] == [run["run_id"]]
    assert (await api.get(f"{API}/runs/{run['run_id']}")).json()["status"] == "success"
