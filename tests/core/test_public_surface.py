"""The public surface stays put while modules move underneath it.

``workflows_app.__all__`` and the module paths the docs name are what users
import; internals (``_name.py``) may move, these may not.
"""

from __future__ import annotations

import importlib

import pytest

import workflows_app

PUBLIC = [
    "AbortSignal",
    "Limit",
    "Processor",
    "Rate",
    "RequestContext",
    "RetryConfig",
    "RetryPolicy",
    "Run",
    "Schedule",
    "Step",
    "StepContext",
    "StepResult",
    "TripwireError",
    "Workflow",
    "WorkflowResult",
    "__version__",
    "asend_event",
    "clone_step",
    "clone_workflow",
    "create_step",
    "create_workflow",
    "errors",
    "get_agent",
    "get_tool",
    "map_variable",
    "register_agent",
    "register_tool",
    "send_event",
    "step",
]

# (module, name) pairs the docs tell users to import.
DOCUMENTED = [
    ("workflows_app.core.run", "acancel_by_id"),
    ("workflows_app.core.run", "create_run"),
    ("workflows_app.core.run", "acreate_run"),
    ("workflows_app.core.run", "Run"),
    ("workflows_app.core.follow", "afollow"),
    ("workflows_app.core.sent_events", "asend_event"),
    ("workflows_app.core.graph", "WorkflowDefinition"),
    ("workflows_app.core.workflow", "Workflow"),
    ("workflows_app.errors", "WorkflowError"),
    ("workflows_app.errors", "LimitKeyError"),
    ("workflows_app.engines", "ENGINES"),
    ("workflows_app.engines.base", "Engine"),
    ("workflows_app.engines.base", "DEFAULT_OPTIONS"),
    ("workflows_app.engines.worker", "Worker"),
    ("workflows_app.engines.worker", "TaskLostError"),
]


def test_the_package_exports_exactly_its_public_names() -> None:
    assert sorted(workflows_app.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(workflows_app, name)


@pytest.mark.parametrize(("module", "name"), DOCUMENTED)
def test_a_documented_path_still_imports(module: str, name: str) -> None:
    assert hasattr(importlib.import_module(module), name)


def test_the_workflow_builder_is_a_workflow_definition() -> None:
    """The protocol the core below the builder uses is one the builder meets."""
    from workflows_app.core import runtime
    from workflows_app.core.graph import WorkflowDefinition

    workflow = workflows_app.create_workflow("surface-check").then(
        workflows_app.create_step(id="one", execute=lambda ctx: 1)
    )
    try:
        definition: WorkflowDefinition = workflow.commit()
        assert definition.nested_workflows() == {"surface-check": workflow}
        assert runtime.get_workflow("surface-check") is workflow
    finally:
        runtime.unregister_workflow("surface-check")
