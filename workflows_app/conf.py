"""The app's one settings dict, ``settings.WORKFLOWS``, with documented defaults.

Read lazily on first use and again after ``setting_changed`` (tests that use
``override_settings`` see their values).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    # "default" runs steps in the process that starts the run; "evented" in workers.
    "ENGINE": "default",
    # Dotted path of the Storage implementation.
    "STORAGE": "workflows_app.storage.DjangoStorage",
    # Extra modules to import at start-up, besides each installed app's workflows.py.
    "MODULES": [],
    # Steps a worker runs at once (evented engine).
    "WORKER_CONCURRENCY": 4,
    # Seconds a worker's claim on a task lasts unless renewed (evented engine).
    "LEASE_SECONDS": 30,
    # With no live worker, run a worker inside the calling process instead of failing.
    "INLINE_WHEN_NO_WORKER": True,
    # How often each worker's sweeper looks for due timers and lost or expired tasks.
    "SWEEP_SECONDS": 0.25,
    # A task no worker claimed for this long is handed out again (its message was lost).
    "UNCLAIMED_SECONDS": 5.0,
    # How often a worker records that it is alive.
    "HEARTBEAT_SECONDS": 2.0,
    # Hand-outs of one task before it fails as lost (crashing workers, poison steps).
    "MAX_DELIVERIES": 5,
    # The CHANNEL_LAYERS alias the evented engine uses.
    "CHANNEL_LAYER": "default",
}


class WorkflowSettings:
    """Attribute access to ``WORKFLOWS`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def values(self) -> dict[str, Any]:
        if self._cache is None:
            user = getattr(settings, "WORKFLOWS", {}) or {}
            self._cache = {**DEFAULTS, **user}
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Unknown WORKFLOWS setting {name!r}")
        return self.values[name]

    def reload(self) -> None:
        self._cache = None


workflow_settings = WorkflowSettings()


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "WORKFLOWS":
        workflow_settings.reload()
        from .apps import configure_runtime

        configure_runtime()
