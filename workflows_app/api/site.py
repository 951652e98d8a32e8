"""The REST API object: routers, authentication, error handling, OpenAPI document.

Mounted by ``workflows_app.urls`` under ``api/``; the OpenAPI document is at
``openapi.json`` and an interactive page at ``docs`` below that.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import NinjaAPI
from ninja.operation import Operation

from .. import __version__
from . import errors, runs, schedules, sent_events, workflows
from .auth import BearerTokenAuth, SessionAuth
from .schemas import CsrfOut


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
                        content[errors.CONTENT_TYPE] = content.pop("application/json")
        return schema


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
