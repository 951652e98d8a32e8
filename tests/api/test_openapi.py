"""The OpenAPI document, the docs page, and schemathesis against the whole API (no 5xx)."""

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
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from workflows_app.models import ApiToken

from .conftest import API, make_user

schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", WSGIHandler())


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


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: Any, superuser: dict[str, Any]) -> None:
    """Requests generated from the document, valid and not, authenticated as a superuser."""
    case.call_and_validate(headers=superuser, checks=[not_a_server_error, response_schema_conformance])
