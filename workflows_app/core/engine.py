"""What the core asks of an engine: the one part of a run that differs between engines.

The core never imports an engine: the app config hands the engines to
:mod:`.runtime`, and a run reaches its engine through this protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

from .storage import RunRecord

if TYPE_CHECKING:
    from .run import Run
    from .workflow import Workflow


class Engine(Protocol):
    """How an engine carries out ``plan``: the only part that differs between engines."""

    name: str
    options: dict[str, Any]

    async def aexecute(
        self,
        run: Run,
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

    def enqueue_here(self, run: Run, event: dict[str, Any], create: RunRecord) -> None:
        """Create the run with ``event`` applied in the caller's open transaction, queueing
        its work; ring the workers once that transaction commits."""

    async def await_settled(self, run_id: str) -> str:
        """Wait until the run settles (finishes, suspends, pauses or is canceled); its status."""

    async def acancel_run(self, run_id: str, workflow: Workflow | None) -> None:
        """Cancel the run, reaching steps that are running now (with or without its definition)."""

    def live_exceptions(self, run_id: str) -> dict[str, BaseException]:
        """Step errors still held as objects by this process, by step path."""

    def abandon(self, run_id: str) -> None:
        """Stop working on the run here without writing anything more (crash tests)."""

    def holds(self, run_id: str) -> bool:
        """Whether this process is working on the run."""

    async def aholders(self, run_id: str) -> list[str]:
        """The live workers, of any process, working on the run now."""
