"""WebSocket consumers: a run's events, and the status of runs for dashboards.

``/ws/workflows/runs/<run_id>/?after=<seq>`` sends the run's stored events after
``seq`` and then its live ones, in order, each once (:func:`core.follow.afollow`
does the ordering). ``/ws/workflows/runs/?workflow=<id>`` sends a message each
time a visible run is created, changes status or finishes (:mod:`.feed`).

Every socket is accepted first, so that a refusal reaches the client as a close
code with a reason it can read (4401 not logged in, 4403 not allowed or no such
run, 4404 no such endpoint), never as a failed handshake. An open socket's access
is checked again while it streams (:mod:`.stream_access`) and it is closed the
same way once the user may no longer see it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import feed
from .conf import workflow_settings
from .core import runtime
from .core.follow import afollow
from .permissions import sees_all_runs
from .request_threads import short_reads
from .stream_access import (
    FORBIDDEN,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    SIGNED_OUT,
    Credentials,
    Nudge,
    Refusal,
    acheck,
    acheck_run,
    aguard,
    listen,
    user_group,
)

__all__ = ["FORBIDDEN", "NOT_AUTHENTICATED", "NOT_FOUND", "RunEventsConsumer", "RunsConsumer"]


def _query(scope: dict[str, Any]) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode())
    return {key: values[-1] for key, values in parsed.items()}


class StreamConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Accept, authenticate, stream while access holds; subclasses say what to stream.

    ``aopen`` returns a refusal or ``None``; ``astream`` runs until the socket
    closes; ``arecheck`` is the access check to repeat (the user is still active
    and the session or token still valid, and whatever the subclass adds).
    """

    credentials: Credentials
    tasks: list[asyncio.Task[None]]
    nudged: asyncio.Queue[Nudge]
    stop_listening: Callable[[], None] | None = None

    async def connect(self) -> None:
        self.tasks = []
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.arefuse(SIGNED_OUT)
            return
        self.credentials = Credentials.of_scope(self.scope)
        self.nudged, self.stop_listening = listen(self.credentials.user_id)
        if self.channel_layer is not None:
            await self.channel_layer.group_add(user_group(self.credentials.user_id), self.channel_name)
        refusal = await self.aopen()
        if refusal is not None:
            await self.arefuse(refusal)
            return
        self.tasks = [asyncio.ensure_future(self.astream()), asyncio.ensure_future(self._aguard())]

    async def aopen(self) -> Refusal | None:
        raise NotImplementedError

    async def astream(self) -> None:
        raise NotImplementedError

    async def arecheck(self) -> Refusal | None:
        _, refusal = await acheck(self.credentials)
        return refusal

    async def arefuse(self, refusal: Refusal) -> None:
        await self.close(code=refusal.code, reason=refusal.reason)

    async def _aguard(self) -> None:
        refusal = await aguard(self.credentials, self.arecheck, self.nudged)
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await self.arefuse(refusal)

    async def workflow_access(self, message: dict[str, Any]) -> None:
        """A change to this user's access made in another process (see ``stream_access.nudge``)."""
        if self.stop_listening is not None:
            self.nudged.put_nowait(Nudge(int(message["user_id"]), message.get("session_digest")))

    async def disconnect(self, code: int) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.stop_listening is not None:
            self.stop_listening()
            group = user_group(self.credentials.user_id)
            if self.channel_layer is not None:
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(group, self.channel_name)


class RunEventsConsumer(StreamConsumer):
    """Streams one run's events after ``?after=<seq>``, then live, with ``seq`` on each."""

    async def aopen(self) -> Refusal | None:
        self.run_id = str(self.scope["url_route"]["kwargs"]["run_id"])
        try:
            self.after = max(0, int(_query(self.scope).get("after", "0")))
        except ValueError:
            return Refusal(FORBIDDEN, "`after` must be a number.")
        return await acheck_run(self.scope["user"], self.run_id)

    async def arecheck(self) -> Refusal | None:
        _, refusal = await acheck(self.credentials, self.run_id)
        return refusal

    async def astream(self) -> None:
        page = int(workflow_settings.STREAM_REPLAY_PAGE)
        storage = short_reads(runtime.get_storage())
        following = afollow(storage, runtime.get_bus(), self.run_id, self.after, page_size=page)
        async for event in following:
            if event is not None:
                await self.send_json(event)


class RunsConsumer(StreamConsumer):
    """Sends ``{"type": "run", "run_id", "workflow_id", "status", "event"}`` for visible runs."""

    async def aopen(self) -> Refusal | None:
        self.workflow = _query(self.scope).get("workflow")
        self.sent: dict[str, str] = {}
        self.viewer = await _aviewer(self.scope["user"])
        return None

    async def arecheck(self) -> Refusal | None:
        user, refusal = await acheck(self.credentials)
        if user is not None:
            self.viewer = await _aviewer(user)  # a permission given or taken applies from now on
        return refusal

    async def astream(self) -> None:
        async with feed.subscribe() as changes:
            while True:
                change = await changes.get()
                wanted = not self.workflow or change.workflow_id == self.workflow
                if not wanted or not change.visible_to(self.viewer):
                    continue
                if self.sent.get(change.run_id) == change.status and change.event != "workflow-start":
                    continue
                self.sent[change.run_id] = change.status
                await self.send_json(
                    {
                        "type": "run",
                        "run_id": change.run_id,
                        "workflow_id": change.workflow_id,
                        "status": change.status,
                        "event": change.event,
                    }
                )


async def _aviewer(user: Any) -> feed.Viewer:
    return feed.Viewer(int(user.pk), bool(await database_sync_to_async(sees_all_runs)(user)))


class UnknownPathConsumer(StreamConsumer):
    """Closes a socket opened on a path no consumer serves with 4404, rather than a traceback."""

    async def connect(self) -> None:
        self.tasks = []
        await self.accept()
        await self.arefuse(Refusal(NOT_FOUND, "No WebSocket endpoint at this path."))
