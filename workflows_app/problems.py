"""RFC 9457 problem documents, the one error format of every HTTP answer the app gives.

Shared by the REST API's error handlers and the ASGI middleware that answers
before Django runs, so that a client reads one shape everywhere: ``code`` is
stable (also the end of ``type``), ``detail`` is for people.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_TYPE = "urn:workflows-app:problem:"
CONTENT_TYPE = "application/problem+json"


def problem_document(
    status: int, code: str, detail: str = "", instance: str = "", **extra: Any
) -> dict[str, Any]:
    """The problem ``code`` with HTTP ``status``, about the resource at ``instance``."""
    return {
        "type": PROBLEM_TYPE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }
