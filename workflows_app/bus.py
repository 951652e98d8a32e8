"""The evented engine's bus on a Channels layer (channels_redis across machines).

Channel and group names carry a version, since they outlive a deploy:
``workflows.v1.tasks`` (a normal channel: each task message goes to one worker),
``workflows.v1.workers`` (every worker: cancellations),
``workflows.v1.run.<hash of the run id>`` (watchers of one run's events) and
``workflows.v1.runs`` (dashboards: the events that change a run's status). A commit's
events go to each group as one message (``events``, in log order).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

from .core.bus import Bus, InMemoryBus
from .fanout import agroup_send_many

TASKS = "workflows.v1.tasks"
WORKERS = "workflows.v1.workers"
_PUMP_STOP_SECONDS = 1.0
RUNS = "workflows.v1.runs"
_DISCARD_SECONDS = 2.0
STATUS_EVENTS = frozenset(
    {"workflow-start", "workflow-finish", "workflow-step-suspended", "workflow-canceled", "workflow-paused"}
)


def run_group(run_id: str) -> str:
    """The group of a run's watchers; hashed, since run ids may hold any character."""
    return "workflows.v1.run." + hashlib.sha256(run_id.encode()).hexdigest()[:32]


def _roundtrip(message: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(message))
    return result


class ChannelsBus:
    """A :class:`~workflows_app.core.bus.Bus` on the Channels layer of ``alias``."""

    local = False

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    @property
    def layer(self) -> BaseChannelLayer:
        layer = get_channel_layer(self.alias)
        if layer is None:
            raise RuntimeError(f"No channel layer {self.alias!r} is configured (CHANNEL_LAYERS)")
        return layer

    async def asend(self, message: dict[str, Any]) -> None:
        await self.layer.send(TASKS, _roundtrip(message))

    async def areceive(self) -> dict[str, Any]:
        message: dict[str, Any] = await self.layer.receive(TASKS)
        return message

    async def abroadcast(self, message: dict[str, Any]) -> None:
        await self.layer.group_send(WORKERS, _roundtrip(message))

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        layer = self.layer
        channel = await layer.new_channel()
        await layer.group_add(WORKERS, channel)
        try:
            yield _receive_forever(layer, channel)
        finally:
            await _adiscard(layer, WORKERS, channel)

    async def apublish(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """One message per group for the whole commit, sent together (:mod:`workflows_app.fanout`)."""
        sends = [(run_group(run_id), _roundtrip({"type": "workflow.events", "events": events}))]
        status = [event for event in events if event.get("type") in STATUS_EVENTS]
        if status:
            sends.append((RUNS, _roundtrip({"type": "workflow.run", "run_id": run_id, "events": status})))
        await agroup_send_many(self.layer, sends)

    @asynccontextmanager
    async def watch(self, run_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        layer = self.layer
        channel = await layer.new_channel()
        group = run_group(run_id)
        await layer.group_add(group, channel)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        pump = asyncio.ensure_future(_pump(layer, channel, queue))
        try:
            yield queue
        finally:
            pump.cancel()
            # A cancelled channels_redis receive can keep reading until its channel's next
            # message (seen with redis-py 8), which never comes once the run has settled:
            # the watcher has what it waited for, so it does not wait for the pump long.
            await asyncio.wait({pump}, timeout=_PUMP_STOP_SECONDS)
            await _adiscard(layer, group, channel)

    @asynccontextmanager
    async def watch_runs(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """One channel in the runs group; a process needs only one, whatever it serves."""
        layer = self.layer
        channel = await layer.new_channel()
        await layer.group_add(RUNS, channel)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def pump() -> None:
            async for message in _receive_forever(layer, channel):
                # One "event" from processes of a release before commits were sent as one message.
                for event in message.get("events") or [message["event"]]:
                    queue.put_nowait({"run_id": message["run_id"], "event": event})

        pumping = asyncio.ensure_future(pump())
        try:
            yield queue
        finally:
            pumping.cancel()
            await asyncio.wait({pumping}, timeout=_PUMP_STOP_SECONDS)
            await _adiscard(layer, RUNS, channel)


async def _adiscard(layer: BaseChannelLayer, group: str, channel: str) -> None:
    """Leave ``group``, briefly and quietly; not at all when this task is being cancelled.

    A cancelled task is shutting down (a worker stopping, a test's event loop
    closing), and a Redis call made then can ignore cancellation until its
    socket times out. A membership left behind costs little: channels_redis
    expires it (``group_expiry``), and messages to its channel are dropped.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        return
    with suppress(Exception):
        await asyncio.wait_for(layer.group_discard(group, channel), _DISCARD_SECONDS)


async def _receive_forever(layer: BaseChannelLayer, channel: str) -> AsyncIterator[dict[str, Any]]:
    while True:
        message: dict[str, Any] = await layer.receive(channel)
        yield message


async def _pump(layer: BaseChannelLayer, channel: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        message = await layer.receive(channel)
        for event in message.get("events", ()):
            queue.put_nowait(event)


def bus_for_settings(alias: str = "default") -> Bus:
    """The in-process bus for an in-memory layer (it reaches this process only), else Channels."""
    layer = get_channel_layer(alias)
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return InMemoryBus()
    return ChannelsBus(alias)
