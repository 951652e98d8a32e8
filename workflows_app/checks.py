"""System checks for the ``WORKFLOWS`` settings, with stable ids."""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from .conf import workflow_settings
from .core import runtime
from .core.storage import Storage
from .quotas import parse_rate


@register()
def check_workflows_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [
        *_check_engine(),
        *_check_storage(),
        *_check_modules(),
        *_check_redis_timeouts(),
        *_check_limits(),
    ]


def _check_engine() -> list[CheckMessage]:
    engine = workflow_settings.ENGINE
    if engine not in runtime.engine_names():
        return [
            Error(
                f"WORKFLOWS['ENGINE'] is {engine!r}",
                hint=f"Use one of {runtime.engine_names()}.",
                id="workflows_app.E001",
            )
        ]
    if engine == "evented" and not apps.is_installed("channels"):
        return [
            Error(
                "The evented engine needs Channels",
                hint="Add 'channels' to INSTALLED_APPS.",
                id="workflows_app.E004",
            )
        ]
    return []


def _check_storage() -> list[CheckMessage]:
    path = workflow_settings.STORAGE
    try:
        storage_class = import_string(path)
    except ImportError as exc:
        return [Error(f"WORKFLOWS['STORAGE'] {path!r} cannot be imported: {exc}", id="workflows_app.E002")]
    if not all(callable(getattr(storage_class, name, None)) for name in _protocol_methods()):
        return [
            Error(
                f"WORKFLOWS['STORAGE'] {path!r} does not implement the Storage protocol",
                hint="See workflows_app.core.storage.Storage.",
                id="workflows_app.E003",
            )
        ]
    return []


def _protocol_methods() -> list[str]:
    return [name for name in vars(Storage) if name.startswith("a") and callable(getattr(Storage, name))]


def _check_modules() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for module in workflow_settings.MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            errors.append(
                Error(
                    f"WORKFLOWS['MODULES'] entry {module!r} cannot be imported: {exc}",
                    id="workflows_app.E005",
                )
            )
    return errors


_BLOCKING_RECEIVE_SECONDS = 5  # channels_redis's BZPOPMIN timeout (RedisChannelLayer.brpop_timeout)


def _check_redis_timeouts() -> list[CheckMessage]:
    """Warn when a channels_redis read can time out before its blocking receive does.

    redis-py 8 gives every connection a 5 s socket timeout, as long as the
    layer's blocking receive: the client may then give up on a message that the
    server has already popped, and that message is lost.
    """
    warnings: list[CheckMessage] = []
    for alias, layer in getattr(settings, "CHANNEL_LAYERS", {}).items():
        if not str(layer.get("BACKEND", "")).startswith("channels_redis."):
            continue
        for host in layer.get("CONFIG", {}).get("hosts", ["redis://localhost:6379"]):
            timeout = host.get("socket_timeout", 5) if isinstance(host, dict) else 5
            if timeout is not None and timeout <= _BLOCKING_RECEIVE_SECONDS:
                warnings.append(
                    Warning(
                        f"CHANNEL_LAYERS[{alias!r}] reads from Redis with a {timeout} s socket timeout, "
                        "no longer than the layer's blocking receive: messages can be lost",
                        hint='Give each host as {"address": "redis://...", "socket_timeout": 30}.',
                        id="workflows_app.W001",
                    )
                )
    return warnings


def _check_limits() -> list[CheckMessage]:
    """The limits are read on the request path and in the planner: a bad one must fail at start-up."""
    found: list[CheckMessage] = []
    rate = workflow_settings.START_RATE_LIMIT
    if rate is not None:
        try:
            parse_rate(rate)
        except ValueError as exc:
            found.append(Error(f"WORKFLOWS['START_RATE_LIMIT']: {exc}", id="workflows_app.E006"))
    cap = workflow_settings.MAX_LOOP_ITERATIONS
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        found.append(
            Error(
                f"WORKFLOWS['MAX_LOOP_ITERATIONS'] is {cap!r}",
                hint="Use a positive integer, or None for no cap.",
                id="workflows_app.E007",
            )
        )
    return found
