"""The admin's run list costs the same number of queries whatever the number of runs on the page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from workflows_app.models import StepAttempt, WorkflowRun

pytestmark = pytest.mark.django_db(transaction=True)


def _seed(owner: User, count: int) -> None:
    runs = WorkflowRun.objects.bulk_create(
        WorkflowRun(run_id=f"seed-{n:04d}", workflow_id="admin-approval", status="success", started_by=owner)
        for n in range(count)
    )
    StepAttempt.objects.bulk_create(
        StepAttempt(run=run, path="decide", status="success", output={}) for run in runs
    )


def _client(name: str, *, superuser: bool) -> tuple[User, Client]:
    user = User.objects.create_user(name, password="pw", is_staff=True, is_superuser=superuser)
    user.user_permissions.add(*Permission.objects.filter(codename="view_workflowrun"))
    client = Client()
    client.force_login(user)
    return user, client


def _queries_of_the_list(client: Client, **params: str) -> tuple[int, str]:
    url = reverse("admin:workflows_app_workflowrun_changelist")
    client.get(url)  # sessions, permissions and content types settle on the first request
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured), response.content.decode()


@pytest.mark.parametrize("superuser", [True, False], ids=["sees-all", "own-runs"])
def test_run_list_makes_as_many_queries_for_200_runs_as_for_10(superuser: bool) -> None:
    user, client = _client("viewer", superuser=superuser)
    _seed(user, 10)
    small, page = _queries_of_the_list(client)
    assert page.count('class="field-short_id"') == 10
    WorkflowRun.objects.all().delete()
    _seed(user, 200)
    large, page = _queries_of_the_list(client)
    assert page.count('class="field-short_id"') == 50  # one page of list_per_page
    assert large == small
    later, _ = _queries_of_the_list(client, p="3", status__exact="success")
    assert later == small
