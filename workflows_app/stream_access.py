"""Whether an open stream's caller may still receive it: checked again, not only at connect.

A WebSocket or Server-Sent Events stream can stay open for days, so the answer
given at connect goes stale: the user logs out, is deactivated, loses the right
to see the run, or their API token is revoked. Each stream keeps the
:class:`Credentials` it was opened with and checks them again every
``WORKFLOWS["STREAM_RECHECK_SECONDS"]``, and at once when this process sees one
of those changes happen (:func:`nudge`, connected to Django's signals in
``AppConfig.ready``). WebSocket consumers also hear of changes made in other
processes, through their user's channel layer group (:func:`user_group`).

A refused stream is closed with a :class:`Refusal`: 4401 when the credentials no
longer name an active user, 4403 when the user may no longer see what is streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user as get_session_user
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from .conf import workflow_settings
from .models import ApiToken, WorkflowRun
from .permissions import can_view

NOT_AUTHENTICATED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404


@dataclass(frozen=True)
class Refusal:
    """Why a stream is refused or closed: a WebSocket close code and a short reason (<= 123 bytes)."""

    code: int
    reason: str


SIGNED_OUT = Refusal(NOT_AUTHENTICATED, "Not logged in, or the session, account or token is no longer valid.")
NO_RUN = Refusal(FORBIDDEN, "No such run, or you may not see it.")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """How a stream's user was authenticated, so that it can be checked again.

    A token's secret is not kept, only its digest (what the database holds); a
    session goes out on the channel layer only as a digest.
    """

    user_id: int
    session_digest: str | None = None
    session_key: str | None = field(default=None, repr=False)  # never in a log line
    token_digest: str | None = None

    @classmethod
    def of_scope(cls, scope: dict[str, Any]) -> Credentials:
        """The credentials of a WebSocket: its session, if ``AuthMiddlewareStack`` found one."""
        session = scope.get("session")
        key = getattr(session, "session_key", None)
        return cls(int(scope["user"].pk), _digest(key) if key else None, key)

    @classmethod
    def of_request(cls, request: HttpRequest, user: Any) -> Credentials:
        """The credentials of a REST request: its bearer token, else its session."""
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() == "bearer" and secret:
            return cls(int(user.pk), token_digest=ApiToken.digest_of(secret.strip()))
        key = request.session.session_key if hasattr(request, "session") else None
        return cls(int(user.pk), _digest(key) if key else None, key)

    def user(self) -> Any:
        """The user these credentials still name, if active; ``None`` otherwise."""
        user: Any
        if self.token_digest is not None:
            token = ApiToken.objects.filter(digest=self.token_digest).select_related("user").first()
            user = token.user if token is not None else None
        elif self.session_key is not None:
            store = import_module(settings.SESSION_ENGINE).SessionStore
            request = HttpRequest()  # what Django's get_user reads: the session
            request.session = store(session_key=self.session_key)
            user = get_session_user(request)
        else:
            user = get_user_model().objects.filter(pk=self.user_id).first()
        if user is None or not user.is_authenticated or not user.is_active or user.pk != self.user_id:
            return None
        return user


def check_run(user: Any, run_id: str) -> Refusal | None:
    """``None`` when ``user`` may see the run, else why not."""
    row = WorkflowRun.objects.filter(pk=run_id).values("started_by_id").first()
    if row is None or not can_view(user, row["started_by_id"]):
        return NO_RUN
    return None


def check(credentials: Credentials, run_id: str | None = None) -> tuple[Any, Refusal | None]:
    """The user the credentials still name and, if they may not go on streaming, why not."""
    user = credentials.user()
    if user is None:
        return None, SIGNED_OUT
    return user, (check_run(user, run_id) if run_id is not None else None)


# Streams live for days: each check is a short database access that gives its connection back
# (channels' database_sync_to_async closes it as CONN_MAX_AGE says), never one held per stream.
async def acheck_run(user: Any, run_id: str) -> Refusal | None:
    refusal: Refusal | None = await database_sync_to_async(check_run)(user, run_id)
    return refusal


async def acheck(credentials: Credentials, run_id: str | None = None) -> tuple[Any, Refusal | None]:
    checked: tuple[Any, Refusal | None] = await database_sync_to_async(check)(credentials, run_id)
    return checked


# -- nudges: "check now" ---------------------------------------------------------------


@dataclass(frozen=True)
class Nudge:
    """A change to a user's access; ``session_digest`` names a session that just ended."""

    user_id: int
    session_digest: str | None = None

    def ends(self, credentials: Credentials) -> bool:
        return self.session_digest is not None and self.session_digest == credentials.session_digest


_Waiter = tuple[asyncio.AbstractEventLoop, Callable[[Nudge], None]]
_waiters: dict[int, list[_Waiter]] = defaultdict(list)
_lock = threading.Lock()
USER_GROUP_PREFIX = "workflows.v1.user."


def user_group(user_id: int) -> str:
    """The channel layer group of a user's WebSocket streams, told of changes made elsewhere."""
    return f"{USER_GROUP_PREFIX}{user_id}"


def nudge(user_id: int, *, session_key: str | None = None) -> None:
    """Tell the user's open streams to check their access now (from any thread, any process).

    ``session_key`` names a session being ended (logout), which its streams then
    refuse without looking: the session may outlive this call by a moment.
    """
    change = Nudge(user_id, _digest(session_key) if session_key else None)
    with _lock:
        waiters = list(_waiters.get(user_id, ()))
    for loop, callback in waiters:
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(callback, change)
    _tell_other_processes(change)


def _tell_other_processes(change: Nudge) -> None:
    layer = get_channel_layer(workflow_settings.CHANNEL_LAYER)
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return  # one process: the waiters above are everyone
    message = {"type": "workflow.access", "user_id": change.user_id, "session_digest": change.session_digest}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(user_group(change.user_id), message)
    else:  # called on an event loop's thread: send from it rather than block it
        task = asyncio.ensure_future(layer.group_send(user_group(change.user_id), message))
        _sending.add(task)
        task.add_done_callback(_sending.discard)


_sending: set[asyncio.Future[None]] = set()


def listen(user_id: int) -> tuple[asyncio.Queue[Nudge], Callable[[], None]]:
    """A queue of the nudges for ``user_id`` made in this process, and the function that stops it.

    Call it before checking access for the first time, so that no change made
    after that check goes unheard.
    """
    queue: asyncio.Queue[Nudge] = asyncio.Queue()
    waiter = (asyncio.get_running_loop(), queue.put_nowait)
    with _lock:
        _waiters[user_id].append(waiter)

    def stop() -> None:
        with _lock:
            if waiter in _waiters.get(user_id, ()):
                _waiters[user_id].remove(waiter)
            if not _waiters.get(user_id):
                _waiters.pop(user_id, None)

    return queue, stop


Check = Callable[[], Awaitable[Refusal | None]]


async def aguard(credentials: Credentials, check: Check, nudged: asyncio.Queue[Nudge]) -> Refusal:
    """Wait until the stream must close, and say why.

    ``check`` is run every ``STREAM_RECHECK_SECONDS`` and on every nudge found in
    ``nudged`` (this process's, plus those a consumer relays from its group).
    """
    interval = float(workflow_settings.STREAM_RECHECK_SECONDS)
    while True:
        with contextlib.suppress(TimeoutError):
            change = await asyncio.wait_for(nudged.get(), interval)
            if change.ends(credentials):
                return SIGNED_OUT
        refusal = await check()
        if refusal is not None:
            return refusal
