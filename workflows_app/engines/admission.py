"""The ``admit`` task: a run its workflow's limit held back starts (see :mod:`.limits`).

The worker that claimed the row commits the run's ``start``, fenced by the
claim, so a run is admitted once however many workers race for it; a run
canceled while it waited only has its row dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import lifecycle
from ..core.clock import now_ms

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ..core.storage import Claim, RunRecord
    from ._commits import Committed, Committer
    from ._pipeline import Pipeline


async def aadmit(
    engine: Pipeline, workflow: WorkflowDefinition, record: RunRecord, claim: Claim, committer: Committer
) -> Committed | None:
    """Start a run the limit admitted: the ``start`` it was created with, fenced by the claim."""
    if record.status != "pending":  # canceled while it waited
        await engine.storage.adrop([claim])
        return None
    event = {
        "type": "start",
        "admitted": True,
        "input": record.input,
        "state": record.state,
        "context": record.request_context,
        "now": now_ms(),
    }
    committed = await engine.acommit(
        workflow, claim.run_id, [event], committer=committer, fences=[claim], known=record
    )
    if committed is not None and committed.decision.record is not None:
        await lifecycle.astarted(workflow, committed.decision.record)
    return committed
