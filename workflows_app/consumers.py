"""WebSocket consumers: a run's events, and the status of runs for dashboards.

``/ws/workflows/runs/<run_id>/?after=<seq>`` sends the run's stored events after
``seq`` and then its live ones, in order, each once (:func:`core.follow.afollow`
does the ordering). ``/ws/workflows/runs/?workflow=<id>`` sends a message each
time a visible run is created, changes status or finishes. Only authenticated
users who may see a run get anything about it; others are refused at connect
with close code 4401 (not logged in) or 4403 (not allowed, or no such run).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .bus import RUNS, STATUS_EVENTS
from .core import runtime
from .core.follow import afollow
from .core.hub import hub
from .models import WorkflowRun
from .permissions import can_view

NOT_AUTHENTICATED = 4401
FORBIDDEN = 4403
_REMEMBERED = 10_000  # events the runs feed remembers, to drop the copy that arrives twice


def _query(scope: dict[str, Any]) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode())
    return {key: values[-1] for key, values in parsed.items()}


async def _run_owner(run_id: str) -> tuple[bool, int | None]:
    """Whether the run exists, and who started it."""
    row = await WorkflowRun.objects.filter(pk=run_id).values("started_by_id").afirst()
    return (row is not None, row["started_by_id"] if row else None)


class RunEventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Streams one run's events after ``?after=<seq>``, then live, with ``seq`` on each."""

    follower: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        run_id = str(self.scope["url_route"]["kwargs"]["run_id"])
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_AUTHENTICATED)
            return
        exists, owner = await _run_owner(run_id)
        if not exists or not await database_sync_to_async(can_view)(user, owner):
            await self.close(code=FORBIDDEN)
            return
        try:
            after = max(0, int(_query(self.scope).get("after", "0")))
        except ValueError:
            await self.close(code=FORBIDDEN)
            return
        await self.accept()
        self.follower = asyncio.ensure_future(self._afollow(run_id, after))

    async def _afollow(self, run_id: str, after: int) -> None:
        async for event in afollow(runtime.get_storage(), runtime.get_bus(), run_id, after):
            if event is not None:
                await self.send_json(event)

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.follower


class RunsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Sends ``{"type": "run", "run_id", "workflow_id", "status", "event"}`` for visible runs."""

    unsubscribe: Any = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_AUTHENTICATED)
            return
        self.workflow = _query(self.scope).get("workflow")
        self.sent: dict[str, str] = {}
        self.seen: dict[tuple[str, int], None] = {}
        await self.accept()
        await self.channel_layer.group_add(RUNS, self.channel_name)
        self.unsubscribe = hub.subscribe("*", self._on_local_event)

    async def _on_local_event(self, event: dict[str, Any]) -> None:
        await self._anotice(str(event.get("run_id", "")), event)

    async def workflow_run(self, message: dict[str, Any]) -> None:
        """A status event of a run driven in another process (sent by ``ChannelsBus``)."""
        await self._anotice(str(message["run_id"]), message["event"])

    async def _anotice(self, run_id: str, event: dict[str, Any]) -> None:
        if event.get("type") not in STATUS_EVENTS or not run_id:
            return
        key = (run_id, int(event.get("seq", 0)))
        if key in self.seen:
            return  # the same event from the hub and from the channel layer
        self.seen[key] = None
        if len(self.seen) > _REMEMBERED:
            del self.seen[next(iter(self.seen))]
        fields = ("workflow_id", "status", "started_by_id")
        row = await WorkflowRun.objects.filter(pk=run_id).values(*fields).afirst()
        if row is None or (self.workflow and row["workflow_id"] != self.workflow):
            return
        if not await database_sync_to_async(can_view)(self.scope["user"], row["started_by_id"]):
            return
        if self.sent.get(run_id) == row["status"] and event["type"] != "workflow-start":
            return
        self.sent[run_id] = row["status"]
        await self.send_json(
            {
                "type": "run",
                "run_id": run_id,
                "workflow_id": row["workflow_id"],
                "status": row["status"],
                "event": event["type"],
            }
        )

    async def disconnect(self, code: int) -> None:
        if self.unsubscribe is not None:
            self.unsubscribe()
        with contextlib.suppress(Exception):
            await self.channel_layer.group_discard(RUNS, self.channel_name)
