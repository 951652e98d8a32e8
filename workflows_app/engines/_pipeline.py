"""What a worker (and the ``match`` task) asks of its engine, as a protocol.

The engine (:mod:`.base`) owns its workers; a worker only calls back into the
pipeline through this protocol, so the worker's modules never import the
engine's and the import graph stays one-way: ``base`` -> ``worker``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..core.bus import Bus
    from ..core.graph import WorkflowDefinition
    from ..core.storage import Claim, RunRecord, Storage
    from ._commits import Committed, Committer
    from .live import LiveErrors


class Served(Protocol):
    """A worker as its engine sees it when choosing its queues."""

    id: str

    def serves(self) -> list[str]: ...


class Pipeline(Protocol):
    """The engine's side of running a claimed task: commit its outcome, announce, call back."""

    name: str
    storage: Storage
    bus: Bus
    options: dict[str, Any]
    errors: LiveErrors

    @property
    def lease_ms(self) -> int: ...

    def worker_queues(self, worker: Served) -> list[str]: ...

    async def acommit(
        self,
        workflow: WorkflowDefinition | None,
        run_id: str,
        events: list[dict[str, Any]],
        *,
        committer: Committer,
        known: RunRecord | None = None,
        fences: Sequence[Claim] = (),
    ) -> Committed | None: ...

    async def acommit_outcome(
        self,
        workflow: WorkflowDefinition,
        claim: Claim,
        event: dict[str, Any],
        *,
        known: RunRecord | None,
        committer: Committer,
    ) -> Committed | None: ...

    async def aafter_commit(
        self, workflow: WorkflowDefinition, committed: Committed | None, committer: Committer
    ) -> list[Claim]: ...

    async def arun_callbacks(
        self, workflow: WorkflowDefinition, claim: Claim, record: RunRecord | None
    ) -> None: ...

    async def aemit(self, run_id: str, event: dict[str, Any]) -> None: ...
