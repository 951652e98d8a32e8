"""App configuration: wiring only (runtime settings, checks, workflow discovery)."""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules, import_string


def configure_runtime() -> None:
    """Point the core at the ORM storage and the engine named in ``WORKFLOWS``."""
    from .bus import bus_for_settings
    from .conf import workflow_settings
    from .core import runtime

    def storage_factory() -> Any:
        return import_string(workflow_settings.STORAGE)()

    evented = {
        "concurrency": workflow_settings.WORKER_CONCURRENCY,
        "lease_seconds": workflow_settings.LEASE_SECONDS,
        "inline_when_no_worker": workflow_settings.INLINE_WHEN_NO_WORKER,
        "sweep_seconds": workflow_settings.SWEEP_SECONDS,
        "unclaimed_seconds": workflow_settings.UNCLAIMED_SECONDS,
        "heartbeat_seconds": workflow_settings.HEARTBEAT_SECONDS,
        "max_deliveries": workflow_settings.MAX_DELIVERIES,
    }
    runtime.configure(
        storage_factory=storage_factory,
        default_engine=workflow_settings.ENGINE,
        engine_options={"evented": evented},
    )
    runtime.configure_bus(lambda: bus_for_settings(workflow_settings.CHANNEL_LAYER))


class WorkflowsAppConfig(AppConfig):
    name = "workflows_app"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .conf import workflow_settings

        configure_runtime()
        autodiscover_modules("workflows")
        for module in workflow_settings.MODULES:
            importlib.import_module(module)
