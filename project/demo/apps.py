from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo workflows, one per composition, registered from ``workflows.py``."""

    name = "project.demo"
    label = "demo"
    verbose_name = "Demo workflows"
