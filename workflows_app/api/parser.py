"""Request bodies: a JSON object, or a clear 400 saying what was sent instead.

Ninja reads any JSON and lets a body of the wrong kind through to the schemas,
where an array was taken as ``{}`` (every field its default). A body is an
object, so anything else is refused here, before a field is looked at.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from ..core import payloads

_KINDS = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}


class BodyError(ValueError):
    """Why a request body is not a JSON object; ninja answers 400 with this as the cause."""


class ObjectBodyParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            # The app's one decoder of outside JSON: NaN, huge integers and deep nesting are
            # a PayloadError (a 400 that says so); a body holds its values one level down.
            data = payloads.parse_json(request.body, what="the request body", envelope=1)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BodyError(f"The body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            kind = "null" if data is None else _KINDS.get(type(data), type(data).__name__)
            raise BodyError(f"The body must be a JSON object, not {kind}.")
        return data
