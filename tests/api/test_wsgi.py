"""Under a WSGI server a run started over REST without ``wait`` goes on after the response.

Django's test ``Client`` serves requests as a WSGI server does: an async view
runs in an event loop made for the request and closed after it, tasks and
all. The run's step here waits for the test to let it go, after the response,
so it can only finish if it went on somewhere that outlives the request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from workflows_app import StepContext, create_step, create_workflow
from workflows_app.api import operations
from workflows_app.models import ApiToken

from .conftest import API, make_user

GATES: dict[str, threading.Event] = {}


async def hold(ctx: StepContext) -> dict[str, Any]:
    released = await asyncio.to_thread(GATES[ctx.input_data["gate"]].wait, 60)
    return {"released": released}


held = create_workflow("api-wsgi-held").then(create_step("hold", execute=hold)).commit()


@pytest.fixture
def wsgi_client() -> Client:
    _, secret = ApiToken.issue(make_user("wsgi"))
    return Client(headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def background() -> Iterator[None]:
    """After the test: stop what the process's own loop still runs, and close its connections."""
    yield

    async def quiesce() -> None:
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await sync_to_async(connections.close_all)()

    asyncio.run_coroutine_threadsafe(quiesce(), operations.background_loop()).result(30)


def test_a_run_started_without_wait_goes_on_after_the_response(
    wsgi_client: Client, engine: str, background: None
) -> None:
    gate = GATES[f"wsgi-{engine}"] = threading.Event()
    response = wsgi_client.post(
        f"{API}/workflows/api-wsgi-held/runs", {"input_data": {"gate": f"wsgi-{engine}"}}, "application/json"
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["run_id"]
    assert response.json()["status"] in ("pending", "running")

    gate.set()

    deadline = time.monotonic() + 30
    while (run := wsgi_client.get(f"{API}/runs/{run_id}").json())["status"] != "success":
        assert time.monotonic() < deadline, f"the run stayed {run['status']!r} after the response"
        time.sleep(0.02)
    assert run["result"] == {"released": True}
