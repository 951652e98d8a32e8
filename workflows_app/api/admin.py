"""Admin of the REST API's bearer tokens: see who has one, when it was last used, revoke it.

Tokens are issued by ``manage.py create_workflows_token``, which shows the secret
once; the admin never can, since only its hash is stored. Registered on import
from ``workflows_app.admin``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "prefix", "digest", "created_at", "last_used_at")
    fields = ("name", *readonly_fields)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
