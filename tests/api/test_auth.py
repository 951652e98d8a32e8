"""Who gets in and what they see: sessions with CSRF, bearer tokens, permissions, ownership."""

from __future__ import annotations

import io

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import AsyncClient, Client

from workflows_app.models import ApiToken

from .conftest import API, RUN_PERMISSIONS, TokenClient, bearer_client, make_user, problem, start

CSRF = "a" * 32  # a CSRF secret as Django keeps it in the cookie; the header may carry it as is


async def session_client(user: User, *, csrf: bool) -> AsyncClient:
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(user)
    if csrf:
        client.cookies["csrftoken"] = CSRF
    return client


async def test_anonymous_requests_are_401(owner: User) -> None:
    client = AsyncClient()
    response = await client.get(f"{API}/workflows")
    problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    response = await client.post(f"{API}/workflows/api-echo/runs", {}, content_type="application/json")
    problem(response, 401, "not-authenticated")


async def test_a_wrong_or_revoked_token_is_401(owner: User) -> None:
    problem(await TokenClient("wfa_not-a-token").get(f"{API}/runs"), 401, "not-authenticated")
    client = await sync_to_async(bearer_client)(owner)
    assert (await client.get(f"{API}/runs")).status_code == 200
    await ApiToken.objects.all().adelete()
    problem(await client.get(f"{API}/runs"), 401, "not-authenticated")


async def test_a_token_of_an_inactive_user_is_401(owner: User, api: AsyncClient) -> None:
    await User.objects.filter(pk=owner.pk).aupdate(is_active=False)
    problem(await api.get(f"{API}/runs"), 401, "not-authenticated")


async def test_bearer_token_records_its_last_use(api: AsyncClient) -> None:
    assert await ApiToken.objects.filter(last_used_at__isnull=False).acount() == 0
    await api.get(f"{API}/runs")
    assert await ApiToken.objects.filter(last_used_at__isnull=False).acount() == 1


async def test_session_reads_without_csrf_but_writes_only_with_it(owner: User) -> None:
    without = await session_client(owner, csrf=False)
    assert (await without.get(f"{API}/workflows")).status_code == 200
    body = {"input_data": {"name": "Ada"}, "wait": True}
    response = await without.post(f"{API}/workflows/api-echo/runs", body, content_type="application/json")
    problem(response, 403, "csrf-failed")
    with_token = await session_client(owner, csrf=True)
    response = await with_token.post(
        f"{API}/workflows/api-echo/runs", body, content_type="application/json", headers={"X-CSRFToken": CSRF}
    )
    assert response.status_code == 201, response.content
    assert response.json()["started_by"] == "owner"


async def test_csrf_endpoint_sets_the_cookie() -> None:
    response = await AsyncClient().get(f"{API}/csrf")
    assert response.status_code == 200
    assert response.json()["csrf_token"]
    assert "csrftoken" in response.cookies


async def test_bearer_writes_need_no_csrf(owner: User) -> None:
    client = await sync_to_async(bearer_client)(owner)
    client.cookies["csrftoken"] = CSRF  # a cookie present does not make a bearer request need the header
    run = await start(client, "api-echo", input_data={"name": "Ada"}, wait=True)
    assert run["status"] == "success"


async def test_missing_permissions_are_403(owner: User, api: AsyncClient) -> None:
    run = await start(api, "api-approval", input_data={"item": "x"}, wait=True)
    await sync_to_async(owner.user_permissions.clear)()
    owner_again = await sync_to_async(bearer_client)(owner)
    response = await owner_again.post(f"{API}/workflows/api-echo/runs", {}, content_type="application/json")
    problem(response, 403, "permission-denied")
    for action in ("resume", "cancel", "restart"):
        response = await owner_again.post(
            f"{API}/runs/{run['run_id']}/{action}", {}, content_type="application/json"
        )
        problem(response, 403, "permission-denied")
    assert (await owner_again.get(f"{API}/runs/{run['run_id']}")).status_code == 200


async def test_users_see_only_their_own_runs(owner: User, api: AsyncClient) -> None:
    mine = await start(api, "api-approval", input_data={"item": "mine"}, wait=True)
    other = await sync_to_async(make_user)("other")
    theirs_client = await sync_to_async(bearer_client)(other)
    theirs = await start(theirs_client, "api-approval", input_data={"item": "theirs"}, wait=True)
    listed = (await api.get(f"{API}/runs")).json()["items"]
    assert [item["run_id"] for item in listed] == [mine["run_id"]]
    for path in ("", "/events", "/events/stream"):
        problem(await api.get(f"{API}/runs/{theirs['run_id']}{path}"), 404, "run-not-found")
    response = await api.post(f"{API}/runs/{theirs['run_id']}/cancel")
    problem(response, 404, "run-not-found")
    assert (await theirs_client.get(f"{API}/runs/{theirs['run_id']}")).json()["status"] == "suspended"


async def test_staff_with_the_view_permission_see_every_run(owner: User, api: AsyncClient) -> None:
    run = await start(api, "api-approval", input_data={"item": "shared"}, wait=True)
    staff = await sync_to_async(make_user)("auditor", staff=True, perms=("view_workflowrun",))
    auditor = await sync_to_async(bearer_client)(staff)
    assert [item["run_id"] for item in (await auditor.get(f"{API}/runs")).json()["items"]] == [run["run_id"]]
    assert (await auditor.get(f"{API}/runs/{run['run_id']}")).status_code == 200
    problem(await auditor.post(f"{API}/runs/{run['run_id']}/cancel"), 403, "permission-denied")
    staff_only = await sync_to_async(make_user)("staff-only", staff=True, perms=RUN_PERMISSIONS)
    blind = await sync_to_async(bearer_client)(staff_only)
    assert (await blind.get(f"{API}/runs")).json()["items"] == []
    problem(await blind.get(f"{API}/runs/{run['run_id']}"), 404, "run-not-found")


async def test_create_workflows_token_prints_a_working_token(owner: User) -> None:
    out = io.StringIO()
    await sync_to_async(call_command)("create_workflows_token", "owner", "--name", "ci", stdout=out)
    secret = out.getvalue().strip()
    token = await ApiToken.objects.aget()
    assert (token.name, token.prefix) == ("ci", secret[:12])
    assert secret not in (token.digest, token.prefix)
    assert (await TokenClient(secret).get(f"{API}/runs")).status_code == 200


async def test_create_workflows_token_refuses_an_unknown_user() -> None:
    with pytest.raises(CommandError, match="No user 'ghost'"):
        await sync_to_async(call_command)("create_workflows_token", "ghost", stdout=io.StringIO())


def test_the_admin_lists_tokens_and_cannot_issue_them() -> None:
    admin = User.objects.create_superuser("root", password="pw")
    ApiToken.issue(admin, name="deploy")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/workflows_app/apitoken/")
    assert listing.status_code == 200
    assert b"deploy" in listing.content
    assert client.get("/admin/workflows_app/apitoken/add/").status_code == 403
