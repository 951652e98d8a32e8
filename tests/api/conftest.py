"""Fixtures of the REST API tests: users, clients, the engine, and polling a run.

Runs started through the API go on after the response, as tasks of the event
loop that served it; an ``AsyncClient`` serves requests in the test's own loop,
so those tasks live as long as the test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import AsyncClient

from workflows_app.core import runtime
from workflows_app.engines import ENGINES as ENGINE_CLASSES
from workflows_app.models import ApiToken
from workflows_app.permissions import ACTIONS

from . import workflows

API = "/workflows/api"
ENGINES = list(ENGINE_CLASSES)  # the package defines the engines; every suite runs on each
# Whatever the shared rule names for each action (workflows_app.permissions).
RUN_PERMISSIONS = tuple(
    {ACTIONS[action].partition(".")[2] for action in ("start", "resume", "cancel", "restart")}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/api/" in str(item.fspath):
            item.add_marker(pytest.mark.django_db(transaction=True))


def make_user(name: str, *, perms: tuple[str, ...] = RUN_PERMISSIONS, staff: bool = False) -> User:
    user = User.objects.create_user(username=name, password="pw", is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return user


class TokenClient(AsyncClient):
    """An async client that sends a bearer token with every request.

    Per request, since Django's ``AsyncClient(headers=...)`` passes constructor
    headers on under their WSGI names (``Http-Authorization``).
    """

    def __init__(self, secret: str, **options: Any) -> None:
        super().__init__(**options)
        self.secret = secret

    def generic(self, *args: Any, headers: Any = None, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.secret}", **(headers or {})}
        return super().generic(*args, headers=headers, **options)


def bearer_client(user: User) -> TokenClient:
    _, secret = ApiToken.issue(user)
    return TokenClient(secret)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """Runs started through the API use this engine (``WORKFLOWS["ENGINE"]``)."""
    settings.WORKFLOWS = {**getattr(settings, "WORKFLOWS", {}), "ENGINE": request.param}
    runtime.reset_storage()
    yield str(request.param)
    runtime.reset_storage()


@pytest.fixture
def owner() -> User:
    """A user who may start, resume and cancel runs."""
    return make_user("owner")


@pytest.fixture
def api(owner: User) -> AsyncClient:
    """The owner's client, with a bearer token."""
    return bearer_client(owner)


@pytest.fixture
def gate() -> Iterator[tuple[str, workflows.Gate]]:
    """A gate for ``api-gated`` runs, by name."""
    name = f"gate-{time.monotonic_ns()}"
    workflows.GATES[name] = gate = workflows.Gate()
    yield name, gate
    gate.release.set()
    workflows.GATES.pop(name, None)


async def start(client: AsyncClient, workflow_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/workflows/{workflow_id}/runs", body, content_type="application/json")
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


async def until_status(
    client: AsyncClient, run_id: str, *statuses: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll the run (with a deadline) until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"{API}/runs/{run_id}")
        data: dict[str, Any] = response.json()
        if data.get("status") in statuses:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {data.get('status')!r}, expected {statuses}")
        await asyncio.sleep(0.01)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert that ``response`` is the RFC 9457 problem ``code``; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    assert body["title"]
    return body
