"""Outcomes of tasks, committed in groups: one commit for those of a run ready at once.

The items of a foreach finish nearly together, each with an outcome for the same
run row; :class:`~.batching.GroupCommit` hands the ones that arrive while a
commit of their run is in flight to the next commit, together. A commit fences
every claim it completes, so one lost claim would void the whole group: the
outcomes whose claims were lost are dropped and the others committed again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..core.storage import LeaseLost
from .batching import GroupCommit

if TYPE_CHECKING:
    from ..core.graph import WorkflowDefinition
    from ..core.storage import Claim, RunRecord
    from ._commits import Committed, Committer
    from ._pipeline import Pipeline

logger = logging.getLogger(__name__)

# An outcome as a group carries it: workflow, event, the claim it completes, the run as known.
Outcome = tuple["WorkflowDefinition", dict[str, Any], "Claim", "RunRecord | None", "Committer"]


class OutcomeCommits:
    """The group commits of one engine's task outcomes, per run."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._groups: GroupCommit[Outcome, Committed | None] = GroupCommit(self._acommit)

    async def asubmit(self, run_id: str, outcome: Outcome) -> Committed | None:
        """Commit ``outcome`` with the others of its run; the last of a group gets the commit."""
        return await self._groups.submit(run_id, outcome)

    async def _acommit(self, run_id: str, items: list[Outcome]) -> list[Committed | None]:
        if not items:
            return []
        pipeline = self._pipeline
        workflow, _, _, known, committer = items[-1]
        try:
            committed = await pipeline.acommit(
                workflow,
                run_id,
                [event for _, event, _, _, _ in items],
                committer=committer,
                known=known if len(items) == 1 else None,
                fences=[claim for _, _, claim, _, _ in items],
            )
        except LeaseLost as lost:
            gone = {claim.fence for claim in lost.lost}
            logger.info("Dropping %d outcome(s) of run %s whose claim was lost", len(gone), run_id)
            await pipeline.storage.adrop(lost.lost)
            kept = [item for item in items if item[2].fence not in gone]
            return _results(items, kept, await self._acommit(run_id, kept))
        return [None] * (len(items) - 1) + [committed]


def _results(
    items: list[Outcome], kept: list[Outcome], results: list[Committed | None]
) -> list[Committed | None]:
    """One result per item of ``items``: those of ``kept`` in order, ``None`` for the dropped."""
    by_fence = {item[2].fence: result for item, result in zip(kept, results, strict=True)}
    return [by_fence.get(item[2].fence) for item in items]
