"""Open WebSocket streams are closed, with a reason, once their user may no longer receive them.

And the paths no consumer serves close cleanly; and the runs feed reads a run's
row once per event, not once per socket.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db.backends.utils import CursorWrapper
from django.test import Client

from workflows_app.consumers import FORBIDDEN, NOT_AUTHENTICATED, NOT_FOUND

from .test_consumers import approval_workflow, closed_with, connect, engine, make_user, owned_run, refusal

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["engine"]


@pytest.fixture
def quick_recheck(settings: Any) -> None:
    """Streams check their access again every 50 ms, so a test need not wait a minute."""
    settings.WORKFLOWS = {**getattr(settings, "WORKFLOWS", {}), "STREAM_RECHECK_SECONDS": 0.05}


async def open_stream(path: str, user: Any, first: str | None = None) -> WebsocketCommunicator:
    communicator, connected, _ = await connect(path, user)
    assert connected
    if first is not None:  # the replay has begun: the stream is open and following
        assert (await communicator.receive_json_from(timeout=10))["type"] == first
    return communicator


async def test_deactivating_the_user_closes_their_streams_at_once(engine: str) -> None:
    """No recheck period passes here (a minute by default): the save itself tells the streams."""
    owner = await make_user("owner")
    run_id = await owned_run(approval_workflow(f"ws-deactivate-{engine}"), owner, engine)
    events = await open_stream(f"/ws/workflows/runs/{run_id}/", owner, first="workflow-start")
    feed = await open_stream("/ws/workflows/runs/", owner)
    owner.is_active = False
    await owner.asave()
    for communicator in (events, feed):
        code, reason = await closed_with(communicator)
        assert code == NOT_AUTHENTICATED
        assert "no longer valid" in reason


async def test_a_permission_taken_away_closes_the_stream_at_the_next_recheck(
    engine: str, quick_recheck: None
) -> None:
    owner = await make_user("owner")
    auditor = await make_user("auditor", staff=True, perms=("view_workflowrun",))
    run_id = await owned_run(approval_workflow(f"ws-revoke-perm-{engine}"), owner, engine)
    stream = await open_stream(f"/ws/workflows/runs/{run_id}/", auditor, first="workflow-start")
    async for permission in Permission.objects.filter(codename="view_workflowrun"):
        await auditor.user_permissions.aremove(permission)
    assert await closed_with(stream) == (FORBIDDEN, "No such run, or you may not see it.")


async def test_logging_out_closes_the_sessions_streams_at_once() -> None:
    from project.asgi import application

    owner = await make_user("owner")
    run_id = await owned_run(approval_workflow("ws-logout"), owner, "default")
    client = Client()
    await sync_to_async(client.force_login)(owner)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    headers = [(b"cookie", cookie.encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")]
    stream = WebsocketCommunicator(application, f"/ws/workflows/runs/{run_id}/", headers=headers)
    connected, _ = await stream.connect(timeout=10)
    assert connected
    assert (await stream.receive_json_from(timeout=10))["seq"] == 1
    await sync_to_async(client.logout)()
    assert (await closed_with(stream))[0] == NOT_AUTHENTICATED


async def test_an_unknown_path_closes_with_4404_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    from project.asgi import application

    owner = await make_user("owner")
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    for path in ("/ws/workflows/nothing/", "/elsewhere/"):
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        assert (await closed_with(communicator))[0] == NOT_FOUND
    expected = (NOT_FOUND, "No WebSocket endpoint at this path.")
    assert await refusal("/ws/workflows/runs/a/b/", owner) == expected
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_the_feed_reads_a_run_once_per_event_whatever_the_number_of_sockets(engine: str) -> None:
    owner = await make_user("owner")
    await User.objects.filter(pk=owner.pk).aupdate(is_staff=True)
    async for permission in Permission.objects.filter(codename="view_workflowrun"):
        await owner.user_permissions.aadd(permission)
    owner = await User.objects.aget(pk=owner.pk)
    sockets = [await open_stream("/ws/workflows/runs/", owner) for _ in range(12)]
    reads = _count_feed_reads()
    with reads:
        run = await approval_workflow(f"ws-feed-reads-{engine}").acreate_run(engine=engine)
        await run.astart({})
        for communicator in sockets:
            statuses = [(await communicator.receive_json_from(timeout=10))["status"] for _ in range(2)]
            assert statuses[-1] == "suspended"
    # Two status events (start, suspended): at most one read each, for all 12 sockets together.
    assert 1 <= reads.count <= 2
    for communicator in sockets:
        await communicator.disconnect()


class _count_feed_reads:  # noqa: N801 - used as a context manager, named like one
    """Counts the feed's reads of run rows (``started_by_id`` with ``IN``), in any thread."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> _count_feed_reads:
        self.original = CursorWrapper.execute

        def execute(cursor: Any, sql: str, params: Any = None) -> Any:
            if "workflows_app_workflowrun" in sql and "started_by_id" in sql and " IN " in sql:
                self.count += 1
            return self.original(cursor, sql, params)

        CursorWrapper.execute = execute  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        CursorWrapper.execute = self.original  # type: ignore[method-assign]
