"""One commit's messages to several groups (workflows_app.fanout), on the layer of the settings.

On Redis (``REDIS_URL``) this is the two-round-trip path; on the in-memory layer,
``group_send`` per group. Either way each member of each group gets its message once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer

from workflows_app.fanout import agroup_send_many


async def _receive(layer: Any, channel: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        message: dict[str, Any] = await layer.receive(channel)
    return message


async def test_each_member_of_each_group_gets_its_message_once() -> None:
    layer = get_channel_layer()
    watchers = [await layer.new_channel() for _ in range(2)]
    dashboard = await layer.new_channel()
    for channel in watchers:
        await layer.group_add("fanout.test.run", channel)
    await layer.group_add("fanout.test.runs", dashboard)
    try:
        await agroup_send_many(
            layer,
            [
                ("fanout.test.run", {"type": "workflow.events", "events": [{"seq": 1}, {"seq": 2}]}),
                ("fanout.test.runs", {"type": "workflow.run", "events": [{"seq": 2}]}),
                ("fanout.test.nobody", {"type": "workflow.run", "events": []}),
            ],
        )
        await agroup_send_many(
            layer, [("fanout.test.run", {"type": "workflow.events", "events": [{"seq": 3}]})]
        )
        for channel in watchers:
            assert (await _receive(layer, channel))["events"] == [{"seq": 1}, {"seq": 2}]
            assert (await _receive(layer, channel))["events"] == [{"seq": 3}]
        assert (await _receive(layer, dashboard))["events"] == [{"seq": 2}]
    finally:
        for channel in watchers:
            await layer.group_discard("fanout.test.run", channel)
        await layer.group_discard("fanout.test.runs", dashboard)
