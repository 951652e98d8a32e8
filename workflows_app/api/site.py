"""The REST API object: routers, authentication, error handling, OpenAPI document.

Mounted by ``workflows_app.urls`` under ``api/``; the OpenAPI document is at
``openapi.json`` and an interactive page at ``docs`` below that. Every answer
under that prefix is JSON, errors RFC 9457 problems: the paths no operation
serves (404) and the methods an operation does not take (405) too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.operation import Operation

from .. import __version__
from ..problems import CONTENT_TYPE
from . import errors, runs, schedules, sent_events, workflows
from .auth import BearerTokenAuth, SessionAuth
from .parser import ObjectBodyParser
from .schemas import CsrfOut


def _not_allowed_as_problem(view: Callable[..., Any]) -> Callable[..., Any]:
    """``view`` with ninja's plain-text 405 answered as a problem (its ``Allow`` header kept)."""

    def convert(request: HttpRequest, response: Any) -> Any:
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = response["Allow"]
        problem = errors.problem_response(
            request, 405, "method-not-allowed", f"{request.method} is not allowed here; use {allowed}."
        )
        problem["Allow"] = allowed
        return problem

    if iscoroutinefunction(view):

        async def aconverted(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            return convert(request, await view(request, *args, **kwargs))

        return markcoroutinefunction(functools.wraps(view)(aconverted))

    @functools.wraps(view)
    def converted(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return convert(request, view(request, *args, **kwargs))

    return converted


@csrf_exempt
def unknown_path(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any path under the API's prefix that no operation serves."""
    return errors.problem_response(request, 404, "not-found", f"No API endpoint at {request.path}.")


class WorkflowsAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """The view's name (``start_run``), shorter than ninja's module-qualified default."""
        return str(operation.view_func.__name__)

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Ninja's document, with error responses under their real media type."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for path in schema["paths"].values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status).startswith(("4", "5")) and "application/json" in content:
                        content[CONTENT_TYPE] = content.pop("application/json")
        return schema

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        """Ninja's URLs with problem answers for a wrong method, then one for every other path."""
        patterns = super()._get_urls()
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = _not_allowed_as_problem(pattern.callback)
        return [*patterns, re_path(r"^(?P<path>.*)$", unknown_path)]


api = WorkflowsAPI(
    title="Workflows API",
    version=__version__,
    description=(
        "Start, inspect, resume and cancel workflow runs. Authenticate with a Django session "
        "(unsafe methods need the CSRF token, see `GET /csrf`) or with `Authorization: Bearer <token>` "
        "(`manage.py create_workflows_token <username>`). Errors are RFC 9457 problem documents."
    ),
    urls_namespace="workflows_api",
    auth=[BearerTokenAuth(), SessionAuth()],
    parser=ObjectBodyParser(),
)
errors.install(api)
api.add_router("/workflows", workflows.router)
api.add_router("/runs", runs.router)
api.add_router("/schedules", schedules.router)
api.add_router("", sent_events.router)


@api.get("/csrf", auth=None, response=CsrfOut, tags=["auth"], summary="Get a CSRF token")
def csrf(request: HttpRequest) -> dict[str, Any]:
    """Set the CSRF cookie and return its token, for browsers logged in with a session.

    Send the token back as the `X-CSRFToken` header on POST requests.
    """
    return {"csrf_token": get_token(request)}
