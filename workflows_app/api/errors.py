"""Every error of the REST API as an RFC 9457 problem (``application/problem+json``).

One table maps the engine's error hierarchy to HTTP: a client tells problems
apart by ``code`` (stable, also the end of ``type``), never by parsing ``detail``.
Field errors (422) share one shape, ``{"loc": [...], "message", "type"}``,
whether the request did not match the API's schemas or the data did not match a
workflow's own schemas.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError

from ..core import errors
from ..core.schedules import ScheduleDeclaredError, ScheduleError, ScheduleExistsError, ScheduleNotFoundError
from ..engines.evented import DefinitionMismatchError, NoWorkerError
from ..models import WorkflowJSONEncoder
from ..problems import CONTENT_TYPE, problem_document
from .parser import BodyError

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides.
_ENGINE_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (errors.WorkflowNotFoundError, 404, "workflow-not-found"),
    (errors.RunNotFoundError, 404, "run-not-found"),
    (errors.InputValidationError, 422, "invalid-input"),
    (errors.ResumeDataValidationError, 422, "invalid-resume-data"),
    (errors.RunNotSuspendedError, 409, "run-not-suspended"),
    (errors.StepNotSuspendedError, 409, "step-not-suspended"),
    (errors.MultipleSuspendedStepsError, 409, "ambiguous-resume"),
    (errors.ResumeConflictError, 409, "resume-conflict"),
    (errors.RunNotActiveError, 409, "run-not-active"),
    (errors.RunHeldError, 409, "run-held"),
    (errors.IdempotencyConflictError, 409, "idempotency-conflict"),
    (errors.RunExistsError, 409, "run-exists"),
    (DefinitionMismatchError, 409, "definition-mismatch"),
    (NoWorkerError, 503, "no-worker"),
    (errors.PayloadTooLargeError, 413, "payload-too-large"),
    (errors.PayloadError, 422, "unstorable-value"),
    (ScheduleNotFoundError, 404, "schedule-not-found"),
    (ScheduleExistsError, 409, "schedule-exists"),
    (ScheduleDeclaredError, 409, "schedule-declared"),
    (ScheduleError, 422, "invalid-schedule"),
    (errors.EventError, 422, "invalid-event"),
    (errors.WorkflowError, 400, "workflow-error"),
)


class ApiError(Exception):
    """An error the API itself decides on (stale suspension, not allowed, not found)."""

    def __init__(
        self, status: int, code: str, detail: str = "", *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: HttpRequest, status: int, code: str, detail: str = "", **extra: Any
) -> HttpResponse:
    body = problem_document(status, code, detail, request.path, **extra)
    response = HttpResponse(
        json.dumps(body, cls=WorkflowJSONEncoder), status=status, content_type=CONTENT_TYPE
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="workflows"'
    return response


def field_errors(issues: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """The engine's validation issues (``path``, ``message``, ``type``) as API field errors."""
    return [
        {
            "loc": ["body", field, *(part for part in str(issue.get("path") or "").split(".") if part)],
            "message": issue.get("message", ""),
            "type": issue.get("type", ""),
        }
        for issue in issues
    ]


def _on_problem(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = problem_response(request, exc.status, exc.code, exc.detail, **exc.extra)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _on_request_invalid(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
    unknown = [error for error in exc.errors if error.get("type") == "extra_forbidden"]
    if unknown:
        return _unknown_fields(request, unknown)
    found = [
        {
            "loc": _location(error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors
    ]
    return problem_response(
        request, 422, "invalid-request", "The request does not match its schema.", errors=found
    )


def _unknown_fields(request: HttpRequest, unknown: list[dict[str, Any]]) -> HttpResponse:
    """400: a body with fields the operation does not know (a typo would otherwise be ignored)."""
    locations = [_location(error.get("loc", ())) for error in unknown]
    names = ", ".join(".".join(str(part) for part in loc[1:]) for loc in locations)
    found = [{"loc": loc, "message": "Unknown field", "type": "extra_forbidden"} for loc in locations]
    return problem_response(
        request, 400, "unknown-fields", f"Unknown fields in the body: {names}.", errors=found
    )


def _location(loc: Any) -> list[Any]:
    """Ninja's ``loc`` with the name of the body parameter left out (every view calls it ``body``).

    So that a field of the body is ``["body", "timeout"]``, as the client wrote it.
    """
    parts = list(loc)
    return ["body", *parts[2:]] if parts[:2] == ["body", "body"] else parts


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        return problem_response(request, 401, "not-authenticated", "Log in, or send a bearer token.")
    code = {400: "malformed-request", 403: "forbidden"}.get(exc.status_code, "http-error")
    # Ninja wraps what the body parser raised: its message is the one that says what is wrong.
    cause = exc.__cause__ if isinstance(exc.__cause__, BodyError | errors.PayloadError) else None
    return problem_response(request, exc.status_code, code, str(cause or exc))


def _on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(request, 404, "not-found", str(exc))


def _on_workflow_error(request: HttpRequest, exc: errors.WorkflowError) -> HttpResponse:
    status, code = next((s, c) for kind, s, c in _ENGINE_ERRORS if isinstance(exc, kind))
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.ValidationError):
        extra["errors"] = field_errors(exc.issues, _field_of(exc))
    return problem_response(request, status, code, exc.message, **extra)


def _field_of(exc: errors.ValidationError) -> str:
    return "resume_data" if isinstance(exc, errors.ResumeDataValidationError) else "input_data"


def _on_unstorable(request: HttpRequest, exc: DataError) -> HttpResponse:
    """The database refused a value of the request (PostgreSQL: a NUL character, a date out of range)."""
    return problem_response(request, 422, "unstorable-value", f"The database cannot hold a value sent: {exc}")


def _on_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` that reached Django (under WSGI, Django reads lazily)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
    return problem_response(
        request, 413, "request-too-large", f"The request body is larger than {limit:,} bytes."
    )


def _on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("REST API request %s %s failed", request.method, request.path)
    return problem_response(request, 500, "internal-error", "The server failed to answer; see its log.")


def install(api: NinjaAPI) -> None:
    """Route every error the API can meet to its problem response."""
    api.add_exception_handler(ApiError, _on_problem)  # type: ignore[arg-type]
    api.add_exception_handler(RequestValidationError, _on_request_invalid)  # type: ignore[arg-type]
    api.add_exception_handler(HttpError, _on_http_error)  # type: ignore[arg-type]
    api.add_exception_handler(Http404, _on_not_found)  # type: ignore[arg-type]
    api.add_exception_handler(errors.WorkflowError, _on_workflow_error)  # type: ignore[arg-type]
    api.add_exception_handler(DataError, _on_unstorable)  # type: ignore[arg-type]
    api.add_exception_handler(RequestDataTooBig, _on_too_large)  # type: ignore[arg-type]
    api.add_exception_handler(Exception, _on_unexpected)  # type: ignore[arg-type]
