"""The OpenAPI document, the docs page, and schemathesis with every check against the whole API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from workflows_app.models import ApiToken

from .conftest import API, make_user

# A cursor is opaque: any string matches its schema, but only those the API gave lead anywhere,
# so a made-up one is refused (422 invalid-request) although schema-valid. Everything else is as is.
_OPAQUE_CURSOR = {
    "include-operation-id": "list_runs",
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"],
        }
    },
}
# A schedule names a registered workflow and a cron expression: a schema cannot say which strings
# those are, so a schema-valid body may be refused with 422 invalid-schedule.
_SCHEDULE_BODIES = [
    {
        "include-operation-id": operation_id,
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"],
            }
        },
    }
    for operation_id in ("create_schedule", "change_schedule")
]
schema = schemathesis.openapi.from_wsgi(
    f"{API}/openapi.json",
    WSGIHandler(),
    config=SchemathesisConfig.from_dict({"operations": [_OPAQUE_CURSOR, *_SCHEDULE_BODIES]}),
)


def test_openapi_document_describes_every_endpoint() -> None:
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = {
        operation["operationId"] for path in document["paths"].values() for operation in path.values()
    }
    assert operations == {
        "csrf",
        "list_workflows",
        "get_workflow",
        "start_run",
        "list_runs",
        "get_run",
        "resume_run",
        "cancel_run",
        "restart_run",
        "list_events",
        "stream_events",
        "list_schedules",
        "create_schedule",
        "get_schedule",
        "change_schedule",
        "pause_schedule",
        "resume_schedule",
        "delete_schedule",
        "send_run_event",
        "send_event",
    }
    start = document["paths"][f"{API}/workflows/{{workflow_id}}/runs"]["post"]
    assert "application/problem+json" in start["responses"]["422"]["content"]
    for action in ("resume", "restart", "cancel"):
        responses = document["paths"][f"{API}/runs/{{run_id}}/{action}"]["post"]["responses"]
        assert {"200", "400", "401", "403", "404", "409", "422"} <= set(responses), action
    assert {"BearerTokenAuth", "SessionAuth"} <= set(document["components"]["securitySchemes"])


def test_docs_page_is_served_without_a_cdn() -> None:
    response = Client().get(f"{API}/docs")
    assert response.status_code == 200
    # Every script and stylesheet comes from this site: no src/href to another host.
    # (Matching "cdn" anywhere would also match a random CSRF token on the page.)
    sources = re.findall(rb'(?:src|href)="([^"]+)"', response.content)
    assert sources
    assert all(not re.match(rb"(https?:)?//", source) for source in sources), sources


@pytest.fixture
def superuser() -> Iterator[dict[str, Any]]:
    user: User = make_user("fuzzer", staff=True)
    User.objects.filter(pk=user.pk).update(is_superuser=True)
    _, secret = ApiToken.issue(user)
    yield {"Authorization": f"Bearer {secret}"}


load_all_checks()
EVERY_CHECK = CHECKS.get_all()


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_check_passes_on_generated_requests(case: Any, superuser: dict[str, Any]) -> None:
    """Requests generated from the document, valid and not, authenticated as a superuser.

    Every built-in check of schemathesis: no 5xx; status codes, content types,
    headers and bodies as documented; invalid data refused and valid data
    accepted; unsupported methods answered 405 with ``Allow``; and the rest.
    """
    case.call_and_validate(headers=superuser, checks=EVERY_CHECK)
