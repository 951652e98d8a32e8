"""A run's events: JSON pages after a seq, and Server-Sent Events with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import AsyncClient

from workflows_app.models import ApiToken

from .conftest import API, TokenClient, bearer_client, make_user, problem, start

DECISION = {"approved": False, "reviewer": "ken"}


async def test_events_after_a_seq_in_pages(api: AsyncClient) -> None:
    run = await start(api, "api-echo", input_data={"name": "Ada"}, wait=True)
    url = f"{API}/runs/{run['run_id']}/events"
    everything = (await api.get(url)).json()
    seqs = [event["seq"] for event in everything["events"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert everything["events"][0]["type"] == "workflow-start"
    assert everything["events"][0]["from"] == "WORKFLOW"
    assert everything["events"][-1]["type"] == "workflow-finish"
    assert not everything["has_more"]
    page = (await api.get(url, {"after": 1, "limit": 2})).json()
    assert [event["seq"] for event in page["events"]] == [2, 3]
    assert (page["last_seq"], page["has_more"]) == (3, True)
    rest = (await api.get(url, {"after": page["last_seq"]})).json()
    assert [event["seq"] for event in rest["events"]] == seqs[3:]
    problem(await api.get(url, {"after": -1}), 422, "invalid-request")


class EventStream:
    """Reads Server-Sent Events messages from a streaming response."""

    def __init__(self, response: Any) -> None:
        assert response.status_code == 200, response
        assert response["Content-Type"].startswith("text/event-stream")
        self.chunks: AsyncIterator[bytes] = aiter(response.streaming_content)
        self.buffer = ""

    async def next(self) -> dict[str, str] | None:
        """The next message with an ``id`` (retry hints and keep-alives skipped); ``None`` at the end."""
        while True:
            while "\n\n" not in self.buffer:
                try:
                    chunk = await asyncio.wait_for(anext(self.chunks), 10)
                except StopAsyncIteration:
                    return None
                self.buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            message, self.buffer = self.buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in message.splitlines() if not line.startswith(":"))
            if "id" in fields:
                return fields

    async def until_end(self) -> list[dict[str, str]]:
        messages = []
        while (message := await self.next()) is not None:
            messages.append(message)
        return messages

    async def close(self) -> None:
        await self.chunks.aclose()  # type: ignore[attr-defined]


async def test_stream_of_a_finished_run_replays_after_last_event_id_and_ends(api: AsyncClient) -> None:
    run = await start(api, "api-echo", input_data={"name": "Ada"}, wait=True)
    url = f"{API}/runs/{run['run_id']}/events/stream"
    everything = await EventStream(await api.get(url)).until_end()
    assert [int(m["id"]) for m in everything] == list(range(1, len(everything) + 1))
    assert everything[-1]["event"] == "workflow-finish"
    assert json.loads(everything[-1]["data"])["payload"]["workflow_status"] == "success"
    resumed = await EventStream(await api.get(url, {"after": 1}, headers={"Last-Event-ID": "3"})).until_end()
    assert resumed == everything[3:]


async def test_stream_replays_then_follows_live_with_no_gap_or_duplicate(
    api: AsyncClient, engine: str
) -> None:
    run = await start(api, "api-approval", input_data={"item": "boat"}, wait=True)
    stream = EventStream(await api.get(f"{API}/runs/{run['run_id']}/events/stream"))
    seen = []
    while not seen or seen[-1]["event"] != "workflow-step-suspended":
        message = await stream.next()
        assert message is not None
        seen.append(message)
    resume = asyncio.ensure_future(
        api.post(
            f"{API}/runs/{run['run_id']}/resume", {"resume_data": DECISION}, content_type="application/json"
        )
    )
    seen += await stream.until_end()
    assert (await resume).status_code == 200
    assert [int(m["id"]) for m in seen] == list(range(1, len(seen) + 1))
    types = [m["event"] for m in seen]
    assert types.count("workflow-step-start") == 3  # ask, ask again on resume, record
    assert types[-1] == "workflow-finish"
    stored = (await api.get(f"{API}/runs/{run['run_id']}/events")).json()["events"]
    assert [json.loads(m["data"]) for m in seen] == stored


async def test_a_reconnecting_stream_continues_where_it_left_off(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "kite"}, wait=True)
    url = f"{API}/runs/{run['run_id']}/events/stream"
    first = EventStream(await api.get(url))
    before = [await first.next(), await first.next()]
    await first.close()
    last_id = before[-1]["id"]  # type: ignore[index]
    resumed = await api.post(
        f"{API}/runs/{run['run_id']}/resume",
        {"resume_data": DECISION, "wait": True},
        content_type="application/json",
    )
    assert resumed.json()["status"] == "success"
    after = await EventStream(await api.get(url, headers={"Last-Event-ID": last_id})).until_end()
    assert [int(m["id"]) for m in before + after] == list(range(1, len(before) + len(after) + 1))


async def test_a_bad_last_event_id_is_422(api: AsyncClient) -> None:
    run = await start(api, "api-echo", input_data={"name": "Ada"}, wait=True)
    response = await api.get(f"{API}/runs/{run['run_id']}/events/stream", headers={"Last-Event-ID": "x"})
    problem(response, 422, "invalid-request")


async def _until_closed(response: Any) -> dict[str, Any]:
    """Read the stream until its ``stream-closed`` message; that message's data."""
    buffer = ""
    chunks = aiter(response.streaming_content)
    while "event: stream-closed" not in buffer:
        chunk = await asyncio.wait_for(anext(chunks), 10)
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
    closing = buffer[buffer.index("event: stream-closed") :].split("\n\n", 1)[0]
    data: dict[str, Any] = json.loads(closing.split("data: ", 1)[1])
    with contextlib.suppress(StopAsyncIteration):
        more = await asyncio.wait_for(anext(chunks), 10)
        raise AssertionError(f"the stream went on after stream-closed: {more!r}")
    return data


async def test_revoking_the_token_closes_its_streams_with_a_reason(engine: str, owner: User) -> None:
    token, secret = await sync_to_async(ApiToken.issue)(owner)
    client = TokenClient(secret)
    run = await start(client, "api-approval", input_data={"item": "boat"}, wait=True)
    response = await client.get(f"{API}/runs/{run['run_id']}/events/stream")
    assert response.status_code == 200
    await token.adelete()
    assert await _until_closed(response) == {
        "code": 4401,
        "reason": "Not logged in, or the session, account or token is no longer valid.",
    }
    problem(await client.get(f"{API}/runs/{run['run_id']}/events/stream"), 401, "not-authenticated")


async def test_a_stream_closes_once_its_user_may_no_longer_see_the_run(
    engine: str, owner: User, settings: Any
) -> None:
    settings.WORKFLOWS = {**settings.WORKFLOWS, "STREAM_RECHECK_SECONDS": 0.05}
    auditor = await sync_to_async(make_user)("auditor", perms=("view_workflowrun",), staff=True)
    run = await start(
        await sync_to_async(bearer_client)(owner), "api-approval", input_data={"item": "kite"}, wait=True
    )
    client = await sync_to_async(bearer_client)(auditor)
    response = await client.get(f"{API}/runs/{run['run_id']}/events/stream")
    assert response.status_code == 200
    await sync_to_async(auditor.user_permissions.clear)()
    assert (await _until_closed(response))["code"] == 4403
