"""One commit's messages to several Channels groups, in two Redis round trips instead of four each.

channels_redis's ``group_send`` makes four round trips per group (drop expired
members, read the members, drop expired messages, add the message with a
script). A commit's events go to the run's watchers and, when they change the
run's status, to the dashboards: eight round trips, about a seventh of a busy
worker's loop. Here the members of every group are read in one pipeline and
every message is added by one script, with the layer's own keys, serializer
and capacities; messages a channel's capacity has no room for are dropped, as
``group_send`` drops them. Any other layer (in-memory, Redis pub/sub) gets a
plain ``group_send`` per group.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

from channels.layers import BaseChannelLayer

logger = logging.getLogger(__name__)

# KEYS: channel keys; ARGV: one message per key, one capacity per key, then the time, the
# expiry of a key and the score under which messages have expired. A key may come twice.
_ADD_MESSAGES = """
local count = #KEYS
local now = ARGV[2 * count + 1]
local expiry = ARGV[2 * count + 2]
local expired = ARGV[2 * count + 3]
local over_capacity = 0
for i = 1, count do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, expired)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[count + i]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""
_LAYER_PARTS = ("_group_key", "_map_channel_keys_to_connection", "connection", "consistent_hash")


def _redis_layer(layer: BaseChannelLayer) -> bool:
    """channels_redis's core layer, whose parts this module uses (checked, not assumed).

    A subclass that changes ``group_send`` keeps it: what it adds is not known here.
    """
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:
        return False
    return (
        isinstance(layer, RedisChannelLayer)
        and type(layer).group_send is RedisChannelLayer.group_send
        and all(hasattr(layer, part) for part in _LAYER_PARTS)
    )


async def agroup_send_many(layer: BaseChannelLayer, sends: list[tuple[str, dict[str, Any]]]) -> None:
    """``layer.group_send(group, message)`` for each pair, in as few round trips as the layer allows."""
    if not _redis_layer(layer):
        for group, message in sends:
            await layer.group_send(group, message)
        return
    members = await _amembers(layer, [group for group, _ in sends])
    entries: dict[int, list[tuple[bytes, bytes, int]]] = collections.defaultdict(list)
    for group, message in sends:
        if not members[group]:
            continue
        by_connection, messages, capacities = layer._map_channel_keys_to_connection(members[group], message)
        for index, keys in by_connection.items():
            entries[index] += [(key, messages[key], capacities[key]) for key in keys]
    for index, found in entries.items():
        await _aadd(layer, index, found)


async def _amembers(layer: Any, groups: list[str]) -> dict[str, list[str]]:
    """The live members of each group: one pipeline per Redis host holding some of the groups."""
    by_host: dict[int, list[str]] = collections.defaultdict(list)
    for group in dict.fromkeys(groups):
        layer.require_valid_group_name(group)
        by_host[layer.consistent_hash(group)].append(group)
    members: dict[str, list[str]] = {}
    oldest = int(time.time()) - layer.group_expiry
    for index, host_groups in by_host.items():
        pipe = layer.connection(index).pipeline()
        for group in host_groups:
            pipe.zremrangebyscore(layer._group_key(group), min=0, max=oldest)
            pipe.zrange(layer._group_key(group), 0, -1)
        replies = await pipe.execute()
        for group, names in zip(host_groups, replies[1::2], strict=True):
            members[group] = [name.decode("utf8") for name in names]
    return members


async def _aadd(layer: Any, index: int, entries: list[tuple[bytes, bytes, int]]) -> None:
    now = time.time()
    keys = [key for key, _, _ in entries]
    args = [*(message for _, message, _ in entries), *(capacity for _, _, capacity in entries)]
    args += [now, layer.expiry, int(now) - int(layer.expiry)]
    dropped = await layer.connection(index).eval(_ADD_MESSAGES, len(keys), *keys, *args)
    if dropped:
        logger.info("%s of %s channel messages dropped: channels over capacity", dropped, len(keys))
