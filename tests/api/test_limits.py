"""Limits with clear answers: body size (413), hostile JSON (400), start rate (429), waits without threads.

The body limit is checked twice: by the ASGI middleware of the project's
application, before anything reads the body (an anonymous 300 MB POST costs
nothing), and by the API when a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``
reaches Django some other way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.test import AsyncClient

from project.asgi import application
from workflows_app.models import WorkflowRun

from . import workflows
from .conftest import API, bearer_client, make_user, problem, start

START = f"{API}/workflows/api-echo/runs"


class AsgiCall:
    """One HTTP request to an ASGI application, counting the body reads it asks for."""

    def __init__(self, headers: list[tuple[bytes, bytes]], chunks: int = 0, chunk: bytes = b"") -> None:
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": START,
            "raw_path": START.encode(),
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *headers],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        self.chunks = chunks
        self.chunk = chunk
        self.reads = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads > self.chunks:
            await asyncio.Event().wait()  # the client stays connected until the answer
        return {"type": "http.request", "body": self.chunk, "more_body": self.reads < self.chunks}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def answer(self) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
        await application(self.scope, self.receive, self.send)
        head = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        return head["status"], dict(head["headers"]), json.loads(body)


async def test_an_anonymous_300_mb_post_is_refused_before_a_byte_of_it_is_read() -> None:
    call = AsgiCall([(b"content-length", b"300000000")], chunks=300, chunk=b"x" * 1_000_000)

    status, headers, body = await call.answer()

    assert status == 413
    assert headers[b"content-type"] == b"application/problem+json"
    assert body["code"] == "request-too-large"
    assert body["instance"] == START
    assert call.reads == 0


async def test_a_chunked_body_is_cut_off_at_the_limit(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    call = AsgiCall([(b"transfer-encoding", b"chunked")], chunks=1000, chunk=b"x" * 4_000)

    status, _, body = await call.answer()

    assert status == 413
    assert body["code"] == "request-too-large"
    assert "10,000 bytes" in body["detail"]
    assert call.reads == 3  # 12,000 bytes read of the 4,000,000 sent


async def test_a_body_within_the_limit_goes_through(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    call = AsgiCall([(b"content-length", b"2")], chunks=1, chunk=b"{}")

    status, _, body = await call.answer()

    assert status == 401  # past the limit, to the API, which asks who is calling
    assert body["code"] == "not-authenticated"


async def test_a_body_over_the_limit_that_reaches_django_is_413(api: AsyncClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    response = await api.post(START, {"input_data": {"name": "x" * 2_000}}, content_type="application/json")

    body = problem(response, 413, "request-too-large")
    assert "1,000 bytes" in body["detail"]


async def post_raw(client: AsyncClient, path: str, text: str) -> Any:
    return await client.post(path, text, content_type="application/json")


async def test_nan_in_a_start_is_a_400_that_says_so(api: AsyncClient, engine: str) -> None:
    response = await post_raw(api, START, '{"input_data": {"name": NaN}}')

    body = problem(response, 400, "malformed-request")
    assert body["detail"] == "The request body holds NaN, which JSON cannot store"


async def test_infinity_in_a_resume_request_context_is_a_400(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "desk"}, wait=True)
    text = '{"resume_data": {"approved": true, "reviewer": "x"}, "request_context": {"limit": -Infinity}}'

    response = await post_raw(api, f"{API}/runs/{run['run_id']}/resume", text)

    body = problem(response, 400, "malformed-request")
    assert "-Infinity" in body["detail"]


async def test_a_5000_digit_number_is_a_400(api: AsyncClient, engine: str) -> None:
    response = await post_raw(api, START, '{"input_data": {"name": "x", "times": ' + "9" * 5000 + "}}")

    body = problem(response, 400, "malformed-request")
    assert "more than 1,000 digits" in body["detail"]


async def test_a_body_nested_5000_levels_is_a_400(api: AsyncClient, engine: str) -> None:
    response = await post_raw(api, START, '{"input_data": ' + "[" * 5000 + "]" * 5000 + "}")

    body = problem(response, 400, "malformed-request")
    assert body["detail"] == "The request body is nested more than 65 levels deep"


async def test_a_cursor_that_decodes_to_deeply_nested_json_is_refused_as_a_cursor(api: AsyncClient) -> None:
    cursor = base64.urlsafe_b64encode(("[" * 100_000).encode()).decode()

    response = await api.get(f"{API}/runs", {"cursor": cursor})

    body = problem(response, 422, "invalid-request")
    assert body["errors"][0]["loc"] == ["query", "cursor"]


async def test_starts_over_the_rate_limit_are_429_with_retry_after(
    api: AsyncClient, engine: str, settings: Any
) -> None:
    settings.WORKFLOWS = {**settings.WORKFLOWS, "START_RATE_LIMIT": "2/hour"}
    for name in ("ann", "bob"):
        await start(api, "api-echo", input_data={"name": name})

    refused = await api.post(START, {"input_data": {"name": "cy"}}, content_type="application/json")

    body = problem(refused, 429, "rate-limited")
    assert "2/hour" in body["detail"]
    assert 3590 <= int(refused["Retry-After"]) <= 3600
    other = await sync_to_async(lambda: bearer_client(make_user("other")))()
    allowed = await other.post(START, {"input_data": {"name": "di"}}, content_type="application/json")
    assert allowed.status_code == 201


async def test_waiting_requests_hold_no_thread_each(api: AsyncClient, engine: str) -> None:
    """Forty requests waiting for their runs at once add no thread per request: they are coroutines."""
    tag = f"wait-{engine}-{time.monotonic_ns()}"
    names = [f"{tag}-{i}" for i in range(40)]
    gates = {name: workflows.Gate() for name in names}
    workflows.GATES.update(gates)
    threads_before = threading.active_count()
    try:
        requests = [
            asyncio.ensure_future(
                start(api, "api-gated", input_data={"gate": name}, resource_id=tag, wait=True, timeout=60)
            )
            for name in names
        ]
        await until_all_waiting(tag, len(names))
        threads_while_waiting = threading.active_count()
        for gate in gates.values():
            gate.release.set()
        runs = await asyncio.wait_for(asyncio.gather(*requests), 60)
    finally:
        for name in names:
            workflows.GATES.pop(name).release.set()

    assert all(run["status"] == "success" for run in runs)
    assert threads_while_waiting - threads_before < 10


async def until_all_waiting(tag: str, count: int, timeout: float = 30.0) -> None:
    """Poll (with a deadline) until ``count`` runs are stored, each given to its caller: all requests wait."""
    runs = WorkflowRun.objects.filter(resource_id=tag, started_by__isnull=False)
    deadline = time.monotonic() + timeout
    while await runs.acount() < count:
        assert time.monotonic() < deadline, "the requests did not all reach their wait"
        await asyncio.sleep(0.01)
