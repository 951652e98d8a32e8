"""The evented engine over a bus that duplicates or drops messages.

The bus is the real Channels Redis layer, wrapped to misbehave. Duplicates must
change nothing (claims and plan's idempotence); lost messages (doorbells) must only delay
runs until a worker polls the queue.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from workflows_app import create_step, create_workflow
from workflows_app.bus import ChannelsBus
from workflows_app.core import runtime

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Polls fast, so that a lost doorbell costs a moment. Leases keep their default length: a lease
# short enough to lapse while a loaded machine stalls the worker lets a second claim run a step
# again, which is at-least-once doing its job, not the duplicate message these tests are about.
FAST = {"sweep_seconds": 0.05, "poll_seconds": 0.3}


def use_layer(backend: str) -> Iterator[None]:
    layers = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
        "faulty": {
            "BACKEND": backend,
            "CONFIG": {
                "hosts": [{"address": REDIS, "socket_timeout": 30}],
                "prefix": f"test{uuid.uuid4().hex[:8]}",
            },
        },
    }
    with override_settings(CHANNEL_LAYERS=layers):
        runtime.configure(engine_options={"evented": FAST})
        runtime.configure_bus(lambda: ChannelsBus("faulty"))
        yield
    from workflows_app.conf import configure_runtime

    configure_runtime()


@pytest.fixture
def duplicating() -> Iterator[None]:
    yield from use_layer("tests.django.layers.DuplicatingLayer")


@pytest.fixture
def lossy() -> Iterator[None]:
    yield from use_layer("tests.django.layers.LossyLayer")


def counting_workflow(workflow_id: str, calls: dict[str, int]) -> Any:
    def step(step_id: str) -> Any:
        async def execute(ctx: Any) -> dict[str, int]:
            calls[step_id] = calls.get(step_id, 0) + 1
            return {"n": ctx.input_data["n"] + 1}

        return create_step(step_id, execute=execute)

    return create_workflow(workflow_id).then(step("a")).parallel([step("b"), step("c")]).commit()


async def run_three_times_checked(workflow_id: str) -> None:
    calls: dict[str, int] = {}
    workflow = counting_workflow(workflow_id, calls)
    results = []
    for _ in range(3):
        run = await workflow.acreate_run(engine="evented")
        results.append(await run.astart({"n": 0}))
    assert [r.status for r in results] == ["success"] * 3
    assert all(r.result == {"b": {"n": 2}, "c": {"n": 2}} for r in results)
    assert calls == {"a": 3, "b": 3, "c": 3}
    for result in results:
        events = await runtime.get_storage().aread_events(result.run_id)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert sorted(e["payload"]["id"] for e in events if e["type"] == "workflow-step-result") == [
            "a",
            "b",
            "c",
        ]


async def test_messages_delivered_twice_change_nothing(duplicating: None) -> None:
    await run_three_times_checked("bus-duplicating")


async def test_messages_dropped_only_delay_runs_until_a_worker_polls(lossy: None) -> None:
    await run_three_times_checked("bus-lossy")
