"""Every answer under the API's prefix is JSON: unknown paths, wrong methods and bodies of the wrong shape."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient

from .conftest import API, problem, start


@pytest.mark.parametrize("method", ["get", "post", "delete"])
async def test_an_unknown_path_under_the_prefix_is_a_404_problem(api: AsyncClient, method: str) -> None:
    for path in ("/nothing", "/runs/r1/nothing/more", "/workflows/api-echo/runs/x"):
        response = await getattr(api, method)(f"{API}{path}")
        body = problem(response, 404, "not-found")
        assert body["instance"] == f"{API}{path}"


async def test_an_unknown_path_is_404_even_without_credentials_or_csrf() -> None:
    problem(await AsyncClient().post(f"{API}/nothing", {}, content_type="application/json"), 404, "not-found")


async def test_a_method_an_operation_does_not_take_is_a_405_problem_with_allow(api: AsyncClient) -> None:
    response = await api.delete(f"{API}/runs")
    body = problem(response, 405, "method-not-allowed")
    assert response["Allow"] == "GET"
    assert "DELETE" in body["detail"]
    response = await api.get(f"{API}/runs/r1/resume")
    problem(response, 405, "method-not-allowed")
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ("[]", "an array"),
        ('[{"input_data": {}}]', "an array"),
        ("3", "a number"),
        ('"x"', "a string"),
        ("null", "null"),
        ("true", "a boolean"),
    ],
)
async def test_a_body_that_is_not_an_object_is_400(api: AsyncClient, payload: str, kind: str) -> None:
    for path in ("/workflows/api-echo/runs", "/runs/r1/resume", "/runs/r1/restart"):
        response = await api.post(f"{API}{path}", payload, content_type="application/json")
        body = problem(response, 400, "malformed-request")
        assert body["detail"] == f"The body must be a JSON object, not {kind}."


async def test_unknown_fields_are_refused_naming_them(api: AsyncClient) -> None:
    body = {"input_data": {"name": "Ada"}, "wiat": True, "input": {}}
    response = await api.post(f"{API}/workflows/api-echo/runs", body, content_type="application/json")
    found = problem(response, 400, "unknown-fields")
    assert found["detail"] == "Unknown fields in the body: wiat, input."
    assert [error["loc"] for error in found["errors"]] == [["body", "wiat"], ["body", "input"]]
    run = await start(api, "api-approval", input_data={"item": "pen"}, wait=True)
    for action, payload in (("resume", {"resume_data": {}, "steps": "ask"}), ("restart", {"wiat": True})):
        response = await api.post(
            f"{API}/runs/{run['run_id']}/{action}", payload, content_type="application/json"
        )
        assert problem(response, 400, "unknown-fields")["errors"][0]["loc"][0] == "body"
    assert (await api.get(f"{API}/runs/{run['run_id']}")).json()["status"] == "suspended"


async def test_a_start_without_wait_answers_the_run_as_one_commit_left_it(
    api: AsyncClient, engine: str
) -> None:
    """Never ``pending`` at version 0 beside steps that already ran: the record and rows agree."""
    for _ in range(10):
        run: dict[str, Any] = await start(api, "api-echo", input_data={"name": "Ada"})
        assert (run["version"] == 0) == (run["status"] == "pending")
        if run["status"] == "pending":
            assert run["steps"] == []
        if any(step["status"] == "success" for step in run["steps"]):
            assert run["version"] >= 2


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-12-07"])
async def test_a_date_filter_takes_only_a_date_time(api: AsyncClient, value: str) -> None:
    """Pydantic reads a number as a Unix time and a date as midnight; the document promises neither."""
    body = problem(await api.get(f"{API}/runs", {"created_before": value}), 422, "invalid-request")
    assert body["errors"][0]["loc"] == ["query", "created_before"]
