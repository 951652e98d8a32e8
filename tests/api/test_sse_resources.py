"""Open Server-Sent Events streams hold no thread and no database connection while a run is quiet.

Each stream used to keep its request's thread and that thread's connection for
its whole life; on PostgreSQL a hundred idle streams then took every connection
and the next requests failed. Here 150 streams follow one run under the ASGI
application served by uvicorn (in a thread of the test, so that it shares the
test database), opened ten at a time: while they wait, neither the process's threads nor, on
PostgreSQL, the backends of the test database grow with them, and every stream
still gets every event of the run when it moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import uvicorn
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connection, connections

from workflows_app.models import ApiToken

from .conftest import API, make_user

STREAMS = 150
BATCH = 10  # streams opened at once: each needs a connection to open (the machine's PostgreSQL allows 100)
# Besides the streams' shared thread and its connection: slack for the server's own work.
SLACK = 4


@pytest.fixture
def server() -> Iterator[str]:
    """The project's ASGI application under uvicorn, in a thread; its base URL."""
    from project.asgi import application

    executors_before = set(SyncToAsync.context_to_thread_executor)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(application, lifespan="off", log_level="warning", timeout_graceful_shutdown=5)
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    until(lambda: served.started, "the server did not start")
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    served.should_exit = True
    thread.join(30)
    listener.close()
    # A known leak, not this test's subject (see the report of issue 13): the process's embedded
    # worker, started from a request, makes executor threads for that request's context after it
    # ended, and nothing closes their connections. Close them here, on their own threads.
    for context, executor in list(SyncToAsync.context_to_thread_executor.items()):
        if context not in executors_before:
            executor.submit(connections.close_all).result(30)
            executor.shutdown(wait=False)
            SyncToAsync.context_to_thread_executor.pop(context, None)


def until(condition: Callable[[], bool], message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.01)


async def auntil(condition: Callable[[], Any], message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, message()
        await asyncio.sleep(0.05)


@sync_to_async
def backends() -> int:
    """Sessions open on the test database, this test's own included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


class Http:
    """Just enough HTTP/1.1 for these requests, one connection each (``Connection: close``)."""

    def __init__(self, base: str, secret: str) -> None:
        self.host, _, port = base.removeprefix("http://").partition(":")
        self.port = int(port)
        self.secret = secret

    @contextlib.asynccontextmanager
    async def aopen(self, method: str, path: str, body: Any = None) -> AsyncIterator[asyncio.StreamReader]:
        """Send the request; the reader is past the status line and headers, at the body."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Authorization: Bearer {self.secret}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        status = await reader.readline()
        assert b" 200 " in status or b" 201 " in status, status
        while await reader.readline() not in (b"\r\n", b""):
            pass
        try:
            yield reader
        finally:
            writer.close()

    async def ajson(self, method: str, path: str, body: Any = None) -> Any:
        async with self.aopen(method, path, body) as reader:
            return json.loads(await reader.read())


async def follow(http: Http, path: str, replayed: int, caught_up: asyncio.Event) -> list[int]:
    """The seqs a stream sends until it ends; ``caught_up`` is set once it sent seq ``replayed``."""
    seqs: list[int] = []
    async with http.aopen("GET", path) as reader:
        while line := await reader.readline():  # chunk sizes between the lines: not "data: "
            if line.startswith(b"data: "):
                seqs.append(int(json.loads(line[6:])["seq"]))
                if seqs[-1] == replayed:
                    caught_up.set()
    return seqs


async def test_idle_streams_hold_no_thread_and_no_connection(server: str, engine: str) -> None:
    _, secret = await sync_to_async(ApiToken.issue)(await sync_to_async(make_user)("watcher"))
    http = Http(server, secret)
    run_id = (await http.ajson("POST", f"{API}/workflows/api-approval/runs", {"input_data": {"item": "x"}}))[
        "run_id"
    ]

    async def suspended() -> bool:
        return (await http.ajson("GET", f"{API}/runs/{run_id}"))["status"] == "suspended"

    await auntil(suspended, lambda: "the run did not suspend")
    replayed = (await http.ajson("GET", f"{API}/runs/{run_id}/events?limit=1000"))["last_seq"]
    on_postgres = connection.vendor == "postgresql"
    threads_before, backends_before = threading.active_count(), (await backends() if on_postgres else 0)

    path = f"{API}/runs/{run_id}/events/stream"
    streams: list[asyncio.Future[list[int]]] = []
    for _ in range(0, STREAMS, BATCH):  # as clients come: a few at once, never all 150
        caught_up = [asyncio.Event() for _ in range(BATCH)]
        streams += [asyncio.ensure_future(follow(http, path, replayed, event)) for event in caught_up]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in caught_up)), 60)

    async def threads_settled() -> bool:
        return threading.active_count() <= threads_before + SLACK

    await auntil(threads_settled, lambda: f"{threading.active_count() - threads_before} threads more")
    if on_postgres:

        async def backends_settled() -> bool:
            return await backends() <= backends_before + SLACK

        await auntil(
            backends_settled, lambda: f"PostgreSQL sessions grew with the streams from {backends_before}"
        )

    decision = {"approved": True, "reviewer": "ann"}
    resumed = await http.ajson(
        "POST", f"{API}/runs/{run_id}/resume", {"step": "ask", "resume_data": decision, "wait": True}
    )
    assert resumed["status"] == "success"
    every = (await http.ajson("GET", f"{API}/runs/{run_id}/events?limit=1000"))["events"]
    seqs = await asyncio.wait_for(asyncio.gather(*streams), 60)
    assert all(sent == [event["seq"] for event in every] for sent in seqs)
