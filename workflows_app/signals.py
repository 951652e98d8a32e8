"""Signal handlers: changes to a user's access tell their open streams to check again.

Logging out, saving a user (deactivation, a new password, staff status) and
deleting an API token (revocation) each :func:`~workflows_app.stream_access.nudge`
the user's streams, which close at once if the change shut them out.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import ApiToken
from .stream_access import nudge


@receiver(user_logged_out, dispatch_uid="workflows_app.streams.logout")
def _on_logout(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if user is not None and user.pk is not None:
        session = getattr(request, "session", None)
        nudge(int(user.pk), session_key=getattr(session, "session_key", None))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="workflows_app.streams.user_saved")
def _on_user_saved(
    sender: Any, instance: Any, created: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if not created and set(update_fields or ()) != {"last_login"}:  # a login changes no access
        nudge(int(instance.pk))


@receiver(post_delete, sender=ApiToken, dispatch_uid="workflows_app.streams.token_revoked")
def _on_token_revoked(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    nudge(int(instance.user_id))
