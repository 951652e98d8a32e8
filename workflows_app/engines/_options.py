"""The engines' tuning and its defaults: the WORKFLOWS settings of the same names in capitals.

Kept apart from the engines so that the settings (``conf.py``) read the table
without importing an engine.
"""

from __future__ import annotations

from typing import Any

# The engines' tuning, with their defaults: the WORKFLOWS settings of the same names in capitals.
DEFAULT_OPTIONS: dict[str, Any] = {
    # Steps a worker process runs at once (evented engine).
    "worker_concurrency": 4,
    # Seconds a claim on a task lasts unless its worker renews it (every third of it).
    "lease_seconds": 30.0,
    # How often an idle worker looks for due work; a doorbell wakes it at once.
    "poll_seconds": 1.0,
    # How often a worker takes back the expired leases of its queues.
    "sweep_seconds": 1.0,
    # How often a worker records that it is alive.
    "heartbeat_seconds": 2.0,
    # Expired leases of one task before it fails with TaskLostError (a step that kills its worker).
    "max_deliveries": 5,
    # Seconds a canceled step may take to finish after its abort signal, before it is cancelled.
    "cancel_grace_seconds": 10.0,
    # With no live worker, run a worker inside the calling process instead of failing (evented).
    "inline_when_no_worker": True,
    # Seconds an event that no run waits on yet is kept for the first run that suspends on it.
    "event_retention_seconds": 86400.0,
    # The most iterations one loop (dowhile / dountil) may run in a run; None: no cap.
    "max_loop_iterations": None,
    # Milliseconds a step's written event (ctx.writer) may wait to share a commit; 0: one each.
    "writer_batch_ms": 20.0,
}
