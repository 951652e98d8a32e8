"""ASGI middleware that refuses an oversized request body before anything buffers it.

Django's ASGI handler reads the whole body into a spooled file before any
Django middleware, authentication or view runs, and only then does
``DATA_UPLOAD_MAX_MEMORY_SIZE`` apply (as a 500 in a JSON API). So an anonymous
client could make the server store 300 MB for a request refused afterwards.
Wrapped around the HTTP application, :class:`RequestBodyLimitMiddleware` answers
413 at once when ``Content-Length`` says the body is too large, and counts
the bytes of a body sent without one (chunked), stopping the read at the limit.

The limit is Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``None``: no limit),
so that one number governs both the ASGI and the WSGI path.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

from .problems import CONTENT_TYPE, problem_document

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestBodyLimitMiddleware:
    """Answer 413 (``application/problem+json``) to a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = content_length(scope)
        if declared is not None and declared > limit:
            await refuse(scope, send, limit)  # the body is never read
            return
        body = _CountedBody(receive, send, limit)
        await self.app(scope, body.receive, body.send)
        if body.exceeded and not body.answered:
            await refuse(scope, send, limit)


class _CountedBody:
    """The app's ``receive`` and ``send``, counting body bytes and cutting the read at the limit.

    Past the limit the app is told the client went away (``http.disconnect``),
    which ends Django's read of the body without a response; the middleware
    then answers 413 itself.
    """

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.count = 0
        self.exceeded = False
        self.answered = False

    async def receive(self) -> Message:
        if self.exceeded:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.count += len(message.get("body", b""))
            if self.count > self.limit:
                self.exceeded = True
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded and not self.answered:
            return  # what the app says after the cut is not the answer: the 413 is
        if message["type"] == "http.response.start":
            self.answered = True
        await self._send(message)


def content_length(scope: Scope) -> int | None:
    """The declared body size, or None when there is none (or it is not a number: Django will say)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def refuse(scope: Scope, send: Send, limit: int) -> None:
    """Send the 413 problem document and close the connection (the rest of the body is not wanted)."""
    detail = f"The request body is larger than {limit:,} bytes."
    body = json.dumps(problem_document(413, "request-too-large", detail, scope.get("path", ""))).encode()
    headers = [
        (b"content-type", CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
