"""Fault injection for the fault tests: a worker that kills itself at a chosen point."""

from __future__ import annotations

import os
import signal


def crash_point(point: str, path: str) -> None:
    """Kill this process here when a fault test asks for it (``WORKFLOWS_CRASH_AT``).

    ``WORKFLOWS_CRASH_AT="after-claim:step-id"`` kills the worker with SIGKILL once,
    right after it claimed that step (``after-step``: after the step ran, before its
    result is committed); the file ``WORKFLOWS_CRASH_MARKER`` records that it
    happened, so the worker started next runs normally. Unset: does nothing.
    """
    wanted = os.environ.get("WORKFLOWS_CRASH_AT")
    marker = os.environ.get("WORKFLOWS_CRASH_MARKER")
    if not wanted or wanted != f"{point}:{path}" or not marker or os.path.exists(marker):
        return
    with open(marker, "w") as done:
        done.write(f"{point}:{path}\n")
    os.kill(os.getpid(), signal.SIGKILL)
