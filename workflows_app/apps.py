"""App configuration: wiring only (runtime settings, checks, workflow discovery)."""

from __future__ import annotations

import importlib

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class WorkflowsAppConfig(AppConfig):
    name = "workflows_app"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .conf import configure_runtime, workflow_settings
        from .core import runtime
        from .schedules import asweep_schedules

        configure_runtime()
        runtime.configure(sweep_duties=[asweep_schedules])
        autodiscover_modules("workflows")
        for module in workflow_settings.MODULES:
            importlib.import_module(module)
