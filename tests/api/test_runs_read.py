"""``GET /runs`` and ``GET /runs/{id}``: finding runs and reading them with their steps."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.test import AsyncClient
from django.utils import timezone

from workflows_app.models import WorkflowRun

from .conftest import API, problem, start


async def test_get_run_shows_suspended_step_with_payload_and_resume_schema(api: AsyncClient) -> None:
    started = await start(api, "api-approval", input_data={"item": "desk"}, wait=True)
    response = await api.get(f"{API}/runs/{started['run_id']}")
    assert response.status_code == 200
    run = response.json()
    assert run["status"] == "suspended"
    assert run["workflow_id"] == "api-approval"
    assert run["input"] == {"item": "desk"}
    [ask] = run["steps"]
    assert ask["path"] == "ask"
    assert ask["status"] == "suspended"
    assert ask["suspend_payload"] == {"question": "Approve desk?"}
    assert ask["label"] == "approval"
    assert ask["resume_schema"]["properties"]["approved"] == {"title": "Approved", "type": "boolean"}
    assert ask["suspended_at"] is not None
    assert run["version"] >= 1


async def test_get_run_shows_tries_and_errors(api: AsyncClient, engine: str) -> None:
    retried = await start(api, "api-retried", input_data={"key": f"read-{engine}"}, wait=True)
    [flaky] = retried["steps"]
    assert (flaky["status"], flaky["attempt"], flaky["attempts"]) == ("success", 2, 3)
    assert flaky["output"] == {"tries": 3}
    tries = flaky["failed_attempts"]
    assert [(t["attempt"], t["error"]["message"]) for t in tries] == [
        (0, "try 1 failed"),
        (1, "try 2 failed"),
    ]
    assert flaky["retry_at"] is None
    failed = await start(api, "api-failing", wait=True)
    assert failed["status"] == "failed"
    assert failed["error"]["message"] == "boom"
    [explode] = failed["steps"]
    assert explode["status"] == "failed"
    assert explode["error"]["name"] == "ValueError"
    assert explode["ended_at"] is not None


async def test_unknown_run_is_404(api: AsyncClient) -> None:
    problem(await api.get(f"{API}/runs/no-such-run"), 404, "run-not-found")


async def _seed(owner: User, count: int) -> list[str]:
    """``count`` stored runs one second apart, newest last (no engine needed to list them)."""
    base = timezone.now() - timedelta(days=1)
    ids = []
    for n in range(count):
        run = await WorkflowRun.objects.acreate(
            run_id=f"seed-{n:02d}",
            workflow_id="api-echo" if n % 2 else "api-approval",
            status="success" if n % 3 else "failed",
            resource_id=f"res-{n % 2}",
            started_by=owner,
        )
        await WorkflowRun.objects.filter(pk=run.pk).aupdate(created_at=base + timedelta(seconds=n))
        ids.append(run.run_id)
    return ids


async def test_list_runs_pages_with_a_cursor(api: AsyncClient, owner: User) -> None:
    ids = await _seed(owner, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await api.get(f"{API}/runs", params)
        assert response.status_code == 200
        page = response.json()
        seen += [item["run_id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert pages == 3


async def test_list_runs_pages_through_runs_created_at_the_same_instant(
    api: AsyncClient, owner: User
) -> None:
    await _seed(owner, 4)
    await WorkflowRun.objects.aupdate(created_at=timezone.now())
    first = (await api.get(f"{API}/runs", {"limit": 2})).json()
    second = (await api.get(f"{API}/runs", {"limit": 2, "cursor": first["next_cursor"]})).json()
    ids = [item["run_id"] for item in first["items"] + second["items"]]
    assert ids == ["seed-03", "seed-02", "seed-01", "seed-00"]
    assert second["next_cursor"] is None


async def test_list_runs_filters(api: AsyncClient, owner: User) -> None:
    await _seed(owner, 6)

    async def ids(**params: object) -> list[str]:
        response = await api.get(f"{API}/runs", params)
        assert response.status_code == 200, response.content
        return [item["run_id"] for item in response.json()["items"]]

    assert await ids(workflow_id="api-echo") == ["seed-05", "seed-03", "seed-01"]
    assert await ids(status="failed") == ["seed-03", "seed-00"]
    assert await ids(resource_id="res-0", status="success") == ["seed-04", "seed-02"]
    middle = (await WorkflowRun.objects.aget(pk="seed-02")).created_at
    assert await ids(created_after=middle.isoformat()) == ["seed-05", "seed-04", "seed-03", "seed-02"]
    assert await ids(created_before=middle.isoformat()) == ["seed-02", "seed-01", "seed-00"]
    listed = (await api.get(f"{API}/runs", {"workflow_id": "api-echo"})).json()["items"][0]
    assert listed["started_by"] == "owner"
    assert listed["resource_id"] == "res-1"


async def test_list_runs_refuses_bad_parameters(api: AsyncClient) -> None:
    problem(await api.get(f"{API}/runs", {"status": "sleepy"}), 422, "invalid-request")
    problem(await api.get(f"{API}/runs", {"limit": 0}), 422, "invalid-request")
    body = problem(await api.get(f"{API}/runs", {"cursor": "not-a-cursor"}), 422, "invalid-request")
    assert body["errors"][0]["loc"] == ["query", "cursor"]


async def test_values_the_database_cannot_hold_are_422_not_500(api: AsyncClient) -> None:
    """PostgreSQL refuses NUL characters in text and JSON; SQLite stores them."""
    for response in (
        await api.get(f"{API}/runs", {"resource_id": "a\x00b"}),
        await api.get(f"{API}/runs/a\x00b"),
        await api.post(
            f"{API}/workflows/api-echo/runs",
            {"input_data": {"name": "nul\x00"}, "wait": True},
            content_type="application/json",
        ),
    ):
        if response.status_code not in (200, 201, 404):
            problem(response, 422, "unstorable-value")
    offset = "2020-01-01T00:00:00+23:59"
    assert (await api.get(f"{API}/runs", {"created_after": offset})).status_code == 200
