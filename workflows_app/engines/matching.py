"""The ``match`` task: a step that suspended on an event takes one sent before it waited.

The suspending commit owes this look (a task row), so it happens after that
commit whatever process or worker does it; the delivery commit completes the
row (it is fenced by the claim), and an event taken but not used (the run moved
on meanwhile) is given back for another run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core._delivery import anext_kept, delivery

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ..core.storage import Claim, RunRecord
    from ._commits import Committed, Committer
    from ._pipeline import Pipeline


async def amatch(
    engine: Pipeline, workflow: WorkflowDefinition, record: RunRecord, claim: Claim, committer: Committer
) -> Committed | None:
    """Deliver the oldest kept event the run waits on, if there is one; drop the row otherwise."""
    found = await anext_kept(engine.storage, workflow, record)
    if found is None:
        await engine.storage.adrop([claim])
        return None
    event, (keys, data) = found
    committed = await engine.acommit(
        workflow,
        claim.run_id,
        [delivery(event, keys, data)],
        committer=committer,
        fences=[claim],
        known=record,
    )
    if committed is None or event.id not in committed.decision.state.get("received", ()):
        await engine.storage.arelease_event(event.id, claim.run_id)
    return committed
