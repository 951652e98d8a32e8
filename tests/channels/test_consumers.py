"""WebSocket consumers: refusals the client can read, replay then live with no gap or duplicate, the feed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission, User

from workflows_app import create_step, create_workflow
from workflows_app.consumers import FORBIDDEN, NOT_AUTHENTICATED
from workflows_app.core import runtime
from workflows_app.engines import ENGINES as ENGINE_CLASSES
from workflows_app.models import WorkflowRun
from workflows_app.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

ENGINES = list(ENGINE_CLASSES)  # the package defines the engines; every suite runs on each


def router() -> Any:
    from channels.routing import URLRouter

    return URLRouter(websocket_urlpatterns)


async def connect(path: str, user: Any) -> tuple[WebsocketCommunicator, bool, int | None]:
    communicator = WebsocketCommunicator(router(), path)
    communicator.scope["user"] = user
    connected, code = await communicator.connect(timeout=10)
    if not connected:
        await communicator.disconnect()  # as the server does after a refusal: the consumer ends
    return communicator, connected, code


async def closed_with(communicator: WebsocketCommunicator) -> tuple[int, str]:
    """The close code and reason the server sends next (events before it are skipped)."""
    while True:
        message = await communicator.receive_output(timeout=10)
        if message["type"] == "websocket.close":
            await communicator.disconnect()
            return message["code"], message.get("reason", "")


async def refusal(path: str, user: Any, application: Any = None) -> tuple[int, str]:
    """Connect, expect the socket to be accepted and closed at once; its close code and reason.

    Accepted first, so that a browser sees the code (not an HTTP 403 and 1006).
    """
    communicator = WebsocketCommunicator(application or router(), path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return await closed_with(communicator)


async def make_user(name: str, *, staff: bool = False, perms: tuple[str, ...] = ()) -> User:
    user = await User.objects.acreate(username=name, is_staff=staff)
    async for permission in Permission.objects.filter(codename__in=perms):
        await user.user_permissions.aadd(permission)
    return user


async def owned_run(workflow: Any, user: User, engine: str, data: Any = None) -> str:
    """Start a run as ``user`` and wait until it settles (suspended or finished)."""
    run = await workflow.acreate_run(engine=engine)
    await run.astart(data)
    await WorkflowRun.objects.filter(pk=run.run_id).aupdate(started_by=user)
    return str(run.run_id)


async def receive_until(communicator: WebsocketCommunicator, last_type: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != last_type:
        events.append(await communicator.receive_json_from(timeout=10))
    return events


def approval_workflow(workflow_id: str) -> Any:
    async def ask(ctx: Any) -> Any:
        if ctx.resume_data is None:
            return await ctx.suspend({"question": "ok?"})
        return {"approved": ctx.resume_data["ok"]}

    return create_workflow(workflow_id).then(create_step("ask", execute=ask)).commit()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Any:
    runtime.reset_storage()
    yield str(request.param)
    runtime.reset_storage()


async def test_an_anonymous_user_is_refused_at_connect() -> None:
    from django.contrib.auth.models import AnonymousUser

    code, reason = await refusal("/ws/workflows/runs/some-run/", AnonymousUser())
    assert code == NOT_AUTHENTICATED
    assert "logged in" in reason
    code, _ = await refusal("/ws/workflows/runs/", AnonymousUser())
    assert code == NOT_AUTHENTICATED


async def test_a_user_who_may_not_see_the_run_is_refused(engine: str) -> None:
    owner = await make_user("owner")
    other = await make_user("other")
    staff_without_view = await make_user("staff", staff=True)
    run_id = await owned_run(approval_workflow(f"ws-deny-{engine}"), owner, engine)
    for user in (other, staff_without_view):
        code, reason = await refusal(f"/ws/workflows/runs/{run_id}/", user)
        assert code == FORBIDDEN
        assert "may not see" in reason
    code, _ = await refusal("/ws/workflows/runs/no-such-run/", owner)
    assert code == FORBIDDEN
    code, reason = await refusal(f"/ws/workflows/runs/{run_id}/?after=x", owner)
    assert (code, reason) == (FORBIDDEN, "`after` must be a number.")


async def test_the_owner_and_staff_with_view_permission_get_the_replay(engine: str) -> None:
    owner = await make_user("owner")
    auditor = await make_user("auditor", staff=True, perms=("view_workflowrun",))
    run_id = await owned_run(approval_workflow(f"ws-allow-{engine}"), owner, engine)
    for user in (owner, auditor):
        communicator, connected, _ = await connect(f"/ws/workflows/runs/{run_id}/", user)
        assert connected
        events = await receive_until(communicator, "workflow-step-suspended")
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        await communicator.disconnect()


async def test_replay_after_a_seq_then_live_events_in_order(engine: str) -> None:
    owner = await make_user("owner")
    workflow = approval_workflow(f"ws-live-{engine}")
    run_id = await owned_run(workflow, owner, engine)
    communicator, connected, _ = await connect(f"/ws/workflows/runs/{run_id}/?after=1", owner)
    assert connected
    replayed = await receive_until(communicator, "workflow-step-suspended")
    assert replayed[0]["seq"] == 2
    run = await workflow.acreate_run(run_id=run_id, engine=engine)
    await run.aresume({"ok": True}, step="ask")
    live = await receive_until(communicator, "workflow-finish")
    seqs = [e["seq"] for e in replayed + live]
    assert seqs == list(range(2, seqs[-1] + 1))
    assert live[-1]["payload"]["workflow_status"] == "success"
    await communicator.disconnect()


async def test_no_gap_or_duplicate_while_events_are_produced_during_the_replay(engine: str) -> None:
    """The client connects while a step writes 300 events; it gets the stored log exactly."""
    owner = await make_user("owner")
    started = asyncio.Event()

    async def chatty(ctx: Any) -> Any:
        for n in range(300):
            await ctx.writer.custom({"type": "tick", "n": n})
            if n == 20:
                started.set()
        return {"done": True}

    workflow = create_workflow(f"ws-chatty-{engine}").then(create_step("chatty", execute=chatty)).commit()
    run = await workflow.acreate_run(engine=engine)
    running = asyncio.ensure_future(run.astart({}))
    await asyncio.wait_for(started.wait(), 10)
    await WorkflowRun.objects.filter(pk=run.run_id).aupdate(started_by=owner)
    communicator, connected, _ = await connect(f"/ws/workflows/runs/{run.run_id}/", owner)
    assert connected
    received = await receive_until(communicator, "workflow-finish")
    await running
    stored = await runtime.get_storage().aread_events(str(run.run_id))
    assert [e["seq"] for e in received] == [e["seq"] for e in stored]
    assert received == stored
    await communicator.disconnect()


async def test_the_runs_feed_sends_status_changes_of_visible_runs_of_one_workflow(engine: str) -> None:
    owner = await make_user("owner")
    watched = create_workflow(f"ws-feed-{engine}").then(create_step("s", execute=lambda c: {})).commit()
    ignored = create_workflow(f"ws-feed-other-{engine}").then(create_step("s", execute=lambda c: {})).commit()
    communicator, connected, _ = await connect(f"/ws/workflows/runs/?workflow={watched.id}", owner)
    assert connected
    await (await ignored.acreate_run(engine=engine)).astart({})
    run = await watched.acreate_run(engine=engine)
    # The run belongs to the owner from the start, as when a surface starts it.
    await run.aenqueue({})
    await WorkflowRun.objects.filter(pk=run.run_id).aupdate(started_by=owner)
    message = await communicator.receive_json_from(timeout=10)
    while message["status"] != "success":
        message = await communicator.receive_json_from(timeout=10)
    assert message == {
        "type": "run",
        "run_id": str(run.run_id),
        "workflow_id": watched.id,
        "status": "success",
        "event": "workflow-finish",
    }
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_the_project_application_authenticates_by_session_and_checks_the_origin() -> None:
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.test import Client

    from project.asgi import application

    owner = await make_user("owner")
    run_id = await owned_run(approval_workflow("ws-session"), owner, "default")
    client = Client()
    await sync_to_async(client.force_login)(owner)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    path = f"/ws/workflows/runs/{run_id}/"

    def headers(origin: str) -> list[tuple[bytes, bytes]]:
        return [(b"cookie", cookie.encode()), (b"origin", origin.encode()), (b"host", b"localhost")]

    good = WebsocketCommunicator(application, path, headers=headers("http://localhost"))
    connected, _ = await good.connect(timeout=10)
    assert connected
    assert (await good.receive_json_from(timeout=10))["seq"] == 1
    await good.disconnect()
    foreign = WebsocketCommunicator(application, path, headers=headers("http://evil.example"))
    connected, _ = await foreign.connect(timeout=10)
    assert not connected
    await foreign.disconnect()
    anonymous = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost")])
    connected, _ = await anonymous.connect(timeout=10)
    assert connected
    assert (await closed_with(anonymous))[0] == NOT_AUTHENTICATED
