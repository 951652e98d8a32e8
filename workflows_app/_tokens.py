"""API tokens, as Django models: the credentials of the REST API's machine clients.

Apart from the runs' tables because they belong to the API's authentication,
not to running workflows; ``models.py`` imports them so that Django finds them.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def for_secret(self, secret: str) -> ApiTokenQuerySet:
        return self.filter(digest=ApiToken.digest_of(secret))


class ApiToken(models.Model):
    """A bearer token for machine clients of the REST API, acting as its user.

    Only a SHA-256 digest of the secret is stored: the secret is shown once, when
    the token is issued (``manage.py create_workflows_token``). Secrets are random
    and long, so a fast hash is enough; a slow one would only slow every request.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows_api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=16, help_text="The first characters of the secret, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user})"

    @staticmethod
    def digest_of(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(cls, user: Any, name: str = "") -> tuple[ApiToken, str]:
        """A new token for ``user`` and its secret, which is not stored anywhere."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=secret[:12], digest=cls.digest_of(secret))
        return token, secret


TOKEN_PREFIX = "wfa_"  # noqa: S105 - marks our secrets (for secret scanners), is no secret itself
