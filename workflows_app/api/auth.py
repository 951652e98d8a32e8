"""Who is calling, and what they may see and do.

Two ways in: a browser's Django session (with a CSRF token on unsafe methods,
since the cookie is sent by the browser on its own) and a bearer token for
machines (``ApiToken``; no CSRF, since nothing sends it implicitly).

What a user may see and do is the rule of :mod:`workflows_app.permissions`,
shared with the admin and the WebSocket consumers. Here, a run a user may not
see is answered as not found (404), so that run ids cannot be probed; an action
the user may not take on a run they see is forbidden (403).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from ..models import ApiToken, WorkflowRun
from ..permissions import ACTIONS, visible_runs
from .errors import ApiError

# Recording every use would write a row per request; a minute is precise enough.
_LAST_USED_PRECISION = timedelta(minutes=1)


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <secret>`` with a secret from ``create_workflows_token``."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = ApiToken.objects.for_secret(token).select_related("user").first()
        if found is None or not found.user.is_active:
            return None
        now = timezone.now()
        if found.last_used_at is None or now - found.last_used_at > _LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        return found.user


class SessionAuth(APIKeyCookie):
    """The Django session of a logged-in browser; unsafe methods need the CSRF token.

    CSRF is checked only once a session user is found, so that a request with
    no credentials at all is told 401 (log in), not 403.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if key is None or user is None or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise ApiError(403, "csrf-failed", "CSRF token missing or incorrect.")
        return user


def caller(request: HttpRequest) -> Any:
    """The user the request was authenticated as (ninja's ``request.auth``)."""
    return request.auth  # type: ignore[attr-defined]


async def arequire(user: Any, action: str) -> None:
    """Refuse (403) a user without the model permission of ``action`` (see ``permissions.ACTIONS``)."""
    if not await user.ahas_perm(ACTIONS[action]):
        raise ApiError(403, "permission-denied", f"You need the permission {ACTIONS[action]}.")


async def avisible_runs(user: Any) -> QuerySet[WorkflowRun]:
    """The runs ``user`` may see, as a queryset to filter further."""
    return await sync_to_async(visible_runs)(user)


async def acheck_visible(user: Any, run_id: str) -> None:
    """404 for a run that does not exist or that ``user`` may not see."""
    runs = await avisible_runs(user)
    if not await runs.filter(pk=run_id).aexists():
        raise ApiError(404, "run-not-found", f"Workflow run {run_id!r} not found.")
