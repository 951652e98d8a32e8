"""workflows_app: persistent, event-driven workflows for Django, written in Python.

Everything here is importable without Django being configured.
"""

from . import errors
from .core import runtime
from .core._pydantic_ai_steps import pydantic_ai_step
from .core.components import get_agent, get_tool, register_agent, register_tool
from .core.context import AbortSignal, RequestContext, StepContext
from .core.errors import TripwireError
from .core.limits import Limit, Rate
from .core.mapping import map_variable
from .core.processors import Processor
from .core.results import StepResult, WorkflowResult
from .core.retry import RetryPolicy
from .core.run import Run
from .core.schedules import Schedule
from .core.sent_events import asend_event, send_event
from .core.steps import Step, clone_step, create_step, register_component_adapter, step
from .core.workflow import RetryConfig, Workflow, clone_workflow, create_workflow
from .engines import ENGINES as _ENGINES

runtime.configure(engines=_ENGINES)
register_component_adapter(pydantic_ai_step)

__version__ = "0.1.0"

__all__ = [
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
