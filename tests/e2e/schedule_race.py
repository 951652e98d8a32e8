"""Workflows and the sweeper of the schedule race test, run in separate OS processes.

``python -m tests.e2e.schedule_race GO_FILE`` sets Django up, says it is ready
(``GO_FILE.ready.<pid>``), waits until ``GO_FILE`` exists (so that every sweeper
starts at once), fires the due ticks once, and prints the ids of the runs it
started as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from workflows_app import StepContext, create_step, create_workflow


async def _digest(ctx: StepContext) -> Any:
    return {"tick": ctx.request_context.get("schedule", {}).get("tick")}


race_digest = create_workflow("race-digest").then(create_step("digest", execute=_digest)).commit()


def main(go_file: str) -> None:
    import django

    django.setup()
    import os

    from workflows_app.schedules import afire_due

    Path(f"{go_file}.ready.{os.getpid()}").touch()
    deadline = time.monotonic() + 300
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.01)
    print(json.dumps(asyncio.run(afire_due())))  # noqa: T201 - the test reads it


if __name__ == "__main__":
    main(sys.argv[1])
