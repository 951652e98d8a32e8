"""What a step writes (``ctx.writer``) is committed in batches, in order, with gapless seqs."""

from __future__ import annotations

from typing import Any

from workflows_app import create_step, create_workflow
from workflows_app.models import WorkflowEvent

from .conftest import Harness
from .shapes import Empty

WRITES = 500


async def _chatty(ctx: Any) -> Any:
    for n in range(WRITES):
        await ctx.writer.write({"n": n})
    return {"wrote": WRITES}


chatty = (
    create_workflow("writer-batches-chatty", input_schema=Empty)
    .then(create_step("chatty", execute=_chatty, input_schema=Empty))
    .commit()
)


async def test_a_step_writing_500_events_commits_them_in_a_few_transactions_in_order(
    harness: Harness,
) -> None:
    result = await harness.execute(chatty, {})
    assert result.status == "success"
    streamed = [e["payload"]["output"]["n"] for e in harness.events if e["type"] == "workflow-step-output"]
    assert streamed == list(range(WRITES))

    log = [row async for row in WorkflowEvent.objects.filter(run_id=result.run_id).order_by("seq")]
    assert [row.seq for row in log] == list(range(1, len(log) + 1))
    written = [row for row in log if row.type == "workflow-step-output"]
    assert [row.payload["output"]["n"] for row in written] == list(range(WRITES))
    [step_result] = [row for row in log if row.type == "workflow-step-result"]
    assert written[-1].seq < step_result.seq
    # The events of one commit share its time (storage/_rows.py): one time per transaction.
    assert len({row.created_at for row in written}) <= 5
