"""``manage.py create_workflows_token <username>``: a bearer token for the REST API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows_app.models import ApiToken


class Command(BaseCommand):
    help = (
        "Issue a REST API bearer token acting as USERNAME and print it. It is shown only this once: "
        "only a hash of it is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for, shown in the admin")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        try:
            user = users._default_manager.get_by_natural_key(options["username"])
        except users.DoesNotExist:
            raise CommandError(f"No user {options['username']!r}") from None
        _, secret = ApiToken.issue(user, name=options["name"])
        self.stdout.write(secret)
