"""The app's one settings dict, ``settings.WORKFLOWS``, with documented defaults, applied to the core.

Read lazily on first use and again after ``setting_changed`` (tests that use
``override_settings`` see their values). The engines' tuning keys are the
engines' own option names in capitals, with the engines' defaults
(:data:`workflows_app.engines._options.DEFAULT_OPTIONS`): one table, not two.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .bus import bus_for_settings
from .core import payloads, runtime
from .core.payloads import PayloadLimits
from .engines._options import DEFAULT_OPTIONS as ENGINE_DEFAULTS

DEFAULTS: dict[str, Any] = {
    # "default" runs steps in the process that starts the run; "evented" in workers.
    "ENGINE": "default",
    # Dotted path of the Storage implementation.
    "STORAGE": "workflows_app.storage.DjangoStorage",
    # Extra modules to import at start-up, besides each installed app's workflows.py.
    "MODULES": [],
    # The CHANNEL_LAYERS alias the engines ring doorbells and fan events out on.
    "CHANNEL_LAYER": "default",
    # How deep and how large (bytes of JSON) input, resume data, state and request context may be.
    "MAX_PAYLOAD_DEPTH": PayloadLimits.max_depth,
    "MAX_PAYLOAD_BYTES": PayloadLimits.max_bytes,
    # An open WebSocket or Server-Sent Events stream checks this often that its user may still see
    # it (also at once on logout, deactivation or token revocation in this process).
    "STREAM_RECHECK_SECONDS": 60.0,
    # Events a stream reads from the log at once when it replays (on connect, after a gap).
    "STREAM_REPLAY_PAGE": 500,
    # Whether this process's workers fire due schedules at each sweep (docs/operations.md).
    "FIRE_SCHEDULES": True,
    # A tick fired later than this many seconds after its time counts as missed (catch_up decides).
    "SCHEDULE_GRACE_SECONDS": 60.0,
    # How many runs one user may start over the REST API in a period, e.g. "100/hour"; None: no limit.
    "START_RATE_LIMIT": None,
    **{name.upper(): value for name, value in ENGINE_DEFAULTS.items()},
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


def configure_runtime() -> None:
    """Point the core at the ORM storage, the engine, the bus and the limits named in ``WORKFLOWS``."""
    values = workflow_settings.values

    def storage_factory() -> Any:
        return import_string(values["STORAGE"])()

    options = {name: values[name.upper()] for name in ENGINE_DEFAULTS}
    runtime.configure(
        storage_factory=storage_factory,
        default_engine=values["ENGINE"],
        engine_options=dict.fromkeys(runtime.engine_names(), options),
    )
    runtime.configure_bus(lambda: bus_for_settings(values["CHANNEL_LAYER"]))
    payloads.configure(PayloadLimits(int(values["MAX_PAYLOAD_DEPTH"]), int(values["MAX_PAYLOAD_BYTES"])))


@receiver(setting_changed)
def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "WORKFLOWS":
        workflow_settings.reload()
        configure_runtime()
