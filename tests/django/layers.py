"""Channel layers that misbehave on purpose, wrapping the real Redis layer."""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer


class DuplicatingLayer(RedisChannelLayer):
    """Delivers every message twice."""

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await super().send(channel, message)
        await super().send(channel, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await super().group_send(group, message)
        await super().group_send(group, message)


class LossyLayer(RedisChannelLayer):
    """Drops every other message sent to a channel (group broadcasts get through)."""

    sent = 0

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        LossyLayer.sent += 1
        if LossyLayer.sent % 2 == 0:
            return
        await super().send(channel, message)
