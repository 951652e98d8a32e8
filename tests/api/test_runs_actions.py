"""Resume, cancel and restart through the API, on both engines, with their conflicts."""

from __future__ import annotations

import asyncio

from django.test import AsyncClient

from workflows_app.core import runtime
from workflows_app.testing import acrash

from . import workflows
from .conftest import API, problem, start, until_status
from .workflows import Gate

DECISION = {"approved": True, "reviewer": "grace"}


async def resume(client: AsyncClient, run_id: str, **body: object) -> object:
    return await client.post(f"{API}/runs/{run_id}/resume", body, content_type="application/json")


async def test_resume_runs_the_suspended_step_to_the_end(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "chair"}, wait=True)
    response = await resume(api, run["run_id"], resume_data=DECISION, step="ask", wait=True)
    assert response.status_code == 200, response.content
    done = response.json()
    assert done["status"] == "success"
    assert done["result"] == {"done": True}
    ask = next(step for step in done["steps"] if step["path"] == "ask")
    assert ask["resume_payload"] == DECISION
    assert ask["resume_schema"] is None


async def test_resume_without_wait_answers_once_accepted(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "lamp"}, wait=True)
    response = await resume(api, run["run_id"], resume_data=DECISION, label="approval")
    assert response.status_code == 200, response.content
    assert response.json()["status"] in ("running", "success")
    done = await until_status(api, run["run_id"], "success")
    assert done["result"] == {"done": True}


async def test_invalid_resume_data_is_422_and_changes_nothing(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "pen"}, wait=True)
    response = await resume(api, run["run_id"], resume_data={"approved": "maybe"})
    body = problem(response, 422, "invalid-resume-data")
    assert {tuple(error["loc"]) for error in body["errors"]} == {
        ("body", "resume_data", "approved"),
        ("body", "resume_data", "reviewer"),
    }
    after = (await api.get(f"{API}/runs/{run['run_id']}")).json()
    assert (after["status"], after["version"]) == ("suspended", run["version"])


async def test_resume_of_a_run_that_is_not_suspended_is_409(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-echo", input_data={"name": "Ada"}, wait=True)
    problem(await resume(api, run["run_id"], resume_data={}), 409, "run-not-suspended")


async def test_resume_of_a_step_that_is_not_suspended_is_409(api: AsyncClient) -> None:
    run = await start(api, "api-approval", input_data={"item": "cup"}, wait=True)
    body = problem(
        await resume(api, run["run_id"], resume_data=DECISION, step="record"), 409, "step-not-suspended"
    )
    assert "ask" in body["detail"]


async def test_resume_of_a_stale_suspension_is_409(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "mug"}, wait=True)
    stale = run["version"] - 1
    response = await resume(api, run["run_id"], resume_data=DECISION, expected_version=stale)
    problem(response, 409, "stale-suspension")
    current = await resume(
        api, run["run_id"], resume_data=DECISION, expected_version=run["version"], wait=True
    )
    assert current.json()["status"] == "success"


async def test_two_resumes_racing_one_wins_one_gets_409(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "car"}, wait=True)
    first, second = await asyncio.gather(
        resume(api, run["run_id"], resume_data=DECISION, wait=True),
        resume(api, run["run_id"], resume_data={**DECISION, "reviewer": "linus"}, wait=True),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 409], (first.content, second.content)
    loser = first if first.status_code == 409 else second
    assert loser.json()["code"] in ("resume-conflict", "run-not-suspended")
    done = await until_status(api, run["run_id"], "success")
    winner = first if first.status_code == 200 else second
    ask = next(step for step in done["steps"] if step["path"] == "ask")
    assert ask["resume_payload"]["reviewer"] == winner.json()["steps"][0]["resume_payload"]["reviewer"]


async def test_cancel_stops_a_running_run(api: AsyncClient, engine: str, gate: tuple[str, Gate]) -> None:
    name, held = gate
    run = await start(api, "api-gated", input_data={"gate": name})
    await asyncio.wait_for(held.entered.wait(), 10)
    response = await api.post(f"{API}/runs/{run['run_id']}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "canceled"
    problem(await api.post(f"{API}/runs/{run['run_id']}/cancel"), 409, "run-finished")


async def test_cancel_of_a_suspended_run(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-approval", input_data={"item": "bike"}, wait=True)
    response = await api.post(f"{API}/runs/{run['run_id']}/cancel")
    assert response.json()["status"] == "canceled"
    problem(await resume(api, run["run_id"], resume_data=DECISION), 409, "run-not-suspended")


async def test_restart_continues_a_run_whose_process_died(
    api: AsyncClient, engine: str, gate: tuple[str, Gate]
) -> None:
    name, held = gate
    run = await start(api, "api-gated", input_data={"gate": name})
    await asyncio.wait_for(held.entered.wait(), 10)
    await acrash(await workflows.gated.acreate_run(run_id=run["run_id"], engine=engine))
    runtime.reset_storage()  # what follows acts as a new process would
    held.release.set()
    response = await api.post(
        f"{API}/runs/{run['run_id']}/restart", {"wait": True}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "success"
    assert response.json()["result"] == {"passed": name}


async def test_restart_of_a_run_a_live_worker_holds_is_409_and_changes_nothing(
    api: AsyncClient, engine: str, gate: tuple[str, Gate]
) -> None:
    name, held = gate
    run = await start(api, "api-gated", input_data={"gate": name})
    await asyncio.wait_for(held.entered.wait(), 10)
    response = await api.post(f"{API}/runs/{run['run_id']}/restart", content_type="application/json")
    body = problem(response, 409, "run-held")
    assert "still being worked on" in body["detail"]
    held.release.set()
    done = await until_status(api, run["run_id"], "success")
    assert done["result"] == {"passed": name}
    assert held.entries == 1  # the step ran once: the refused restart handed nothing out again


async def test_restart_of_a_run_that_is_not_running_is_409(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-echo", input_data={"name": "Ada"}, wait=True)
    response = await api.post(f"{API}/runs/{run['run_id']}/restart", content_type="application/json")
    problem(response, 409, "run-not-active")


async def test_actions_on_unknown_runs_are_404(api: AsyncClient) -> None:
    for action in ("resume", "cancel", "restart"):
        response = await api.post(f"{API}/runs/missing/{action}", {}, content_type="application/json")
        problem(response, 404, "run-not-found")


async def test_parallel_suspensions_are_resumed_one_by_one(api: AsyncClient, engine: str) -> None:
    run = await start(api, "api-two-approvals", wait=True)
    assert run["suspended"] == [["legal"], ["finance"]]
    assert {step["path"]: step["resume_schema"] is not None for step in run["steps"]} == {
        "legal": True,
        "finance": True,
    }
    problem(await resume(api, run["run_id"], resume_data=DECISION), 409, "ambiguous-resume")
    first = await resume(api, run["run_id"], resume_data=DECISION, step="legal", wait=True)
    assert first.json()["status"] == "suspended"
    assert first.json()["suspended"] == [["finance"]]
    stale = await resume(
        api, run["run_id"], resume_data=DECISION, step="finance", expected_version=run["version"]
    )
    problem(stale, 409, "stale-suspension")
    current = first.json()["version"]
    done = await resume(
        api, run["run_id"], resume_data=DECISION, step="finance", expected_version=current, wait=True
    )
    assert done.json()["status"] == "success"
    assert done.json()["result"] == {"legal": DECISION, "finance": DECISION}
