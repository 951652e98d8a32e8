"""The REST run list costs the same number of queries whatever the number of runs on the page."""

from __future__ import annotations

from datetime import timedelta

from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workflows_app.models import WorkflowRun

from .conftest import API, bearer_client, make_user


def _seed(owner: User, count: int) -> None:
    base = timezone.now() - timedelta(days=1)
    WorkflowRun.objects.bulk_create(
        WorkflowRun(
            run_id=f"seed-{n:04d}",
            workflow_id="api-echo",
            status="success" if n % 3 else "failed",
            resource_id=f"res-{n % 2}",
            started_by=owner,
        )
        for n in range(count)
    )
    for n in range(0, count, 25):  # distinct instants, as runs created over time have
        WorkflowRun.objects.filter(run_id__gte=f"seed-{n:04d}").update(created_at=base + timedelta(seconds=n))


def _queries_of_a_page(user: User, **params: object) -> tuple[int, int]:
    """The queries one list request makes (in this thread: the views run here) and its items."""
    client = bearer_client(user)
    with CaptureQueriesContext(connection) as captured:
        response = async_to_sync(client.get)(f"{API}/runs", {"limit": 200, **params})
    assert response.status_code == 200, response.content
    return len(captured), len(response.json()["items"])


def test_list_makes_as_many_queries_for_200_runs_as_for_10() -> None:
    owner, staff = make_user("owner"), make_user("boss", staff=True)
    staff.is_superuser = True
    staff.save()
    _seed(owner, 10)
    small = [_queries_of_a_page(user) for user in (owner, staff)]
    WorkflowRun.objects.all().delete()
    _seed(owner, 200)
    large = [_queries_of_a_page(user) for user in (owner, staff)]
    assert [items for _, items in small] == [10, 10]
    assert [items for _, items in large] == [200, 200]
    assert [queries for queries, _ in large] == [queries for queries, _ in small]
    filtered = _queries_of_a_page(owner, status="failed", workflow_id="api-echo")
    assert filtered == (small[0][0], 67)
