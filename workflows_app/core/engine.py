"""What a run and its engine see of each other, as protocols.

The core never imports an engine: the app config hands the engines to
:mod:`.runtime`, and a run reaches its engine through :class:`Engine`. The
engine, the run's stream, its time travel and the delivery of sent events see
the run through :class:`RunHandle`, so that none of them imports
:mod:`.run`, which imports them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .storage import RunRecord

if TYPE_CHECKING:
    from .graph import WorkflowDefinition
    from .results import WorkflowResult
    from .storage import Storage


class RunHandle(Protocol):
    """A run as its engine and its helpers see it (:class:`~.run.Run` is the one there is)."""

    workflow: WorkflowDefinition
    run_id: str
    status: str
    resource_id: str | None
    owner: Any
    engine_name: str

    @property
    def engine(self) -> Engine: ...

    @property
    def storage(self) -> Storage: ...

    async def _aload(self) -> RunRecord: ...

    async def aresult(self, *, include_state: bool = False) -> WorkflowResult: ...

    def aevents(self, after_seq: int = 0) -> AsyncIterator[dict[str, Any]]: ...


class Engine(Protocol):
    """How an engine carries out ``plan``: the only part that differs between engines."""

    name: str
    options: dict[str, Any]

    async def aexecute(
        self,
        run: RunHandle,
        event: dict[str, Any],
        *,
        create: RunRecord | None = None,
        fresh: dict[str, Any] | None = None,
        reset: Literal["cancel", "drop"] | None = None,
        expected_version: int | None = None,
        wait: bool = True,
    ) -> None:
        """Apply ``event`` to the stored run (created in the same commit with ``create``);
        with ``wait``, return once the run has settled."""

    def enqueue_here(self, run: RunHandle, event: dict[str, Any], create: RunRecord) -> None:
        """Create the run with ``event`` applied in the caller's open transaction, queueing
        its work; ring the workers once that transaction commits."""

    async def await_settled(self, run_id: str) -> str:
        """Wait until the run settles (finishes, suspends, pauses or is canceled); its status."""

    async def acancel_run(self, run_id: str, workflow: WorkflowDefinition | None) -> None:
        """Cancel the run, reaching steps that are running now (with or without its definition)."""

    def live_exceptions(self, run_id: str) -> dict[str, BaseException]:
        """Step errors still held as objects by this process, by step path."""

    def abandon(self, run_id: str) -> None:
        """Stop working on the run here without writing anything more (crash tests)."""

    def holds(self, run_id: str) -> bool:
        """Whether this process is working on the run."""

    async def aholders(self, run_id: str) -> list[str]:
        """The live workers, of any process, working on the run now."""
