"""The registries of agents and tools by id, for steps that name them instead of holding them.

Kept below the steps that look them up, and apart from :mod:`.runtime` (which
knows the registered workflows), so that a step never imports the registry of
the workflows it belongs to.
"""

from __future__ import annotations

from typing import Any

from .errors import AgentNotFoundError, ToolNotFoundError, WorkflowError

_agents: dict[str, Any] = {}
_tools: dict[str, Any] = {}


def register_agent(agent: Any, id: str | None = None) -> Any:
    """Make an agent findable by id (its name by default) for steps that look it up."""
    _agents[_component_id(agent, id, "name")] = agent
    return agent


def get_agent(agent_id: str) -> Any:
    try:
        return _agents[agent_id]
    except KeyError:
        raise AgentNotFoundError(f"Agent {agent_id!r} is not registered") from None


def register_tool(tool: Any, id: str | None = None) -> Any:
    """Make a tool findable by id, so ``.tool("id")`` resolves it when the step runs."""
    _tools[_component_id(tool, id, "id", "name", "__name__")] = tool
    return tool


def get_tool(tool_id: str) -> Any:
    try:
        return _tools[tool_id]
    except KeyError:
        raise ToolNotFoundError(f"Tool {tool_id!r} is not registered") from None


def _component_id(component: Any, given: str | None, *attributes: str) -> str:
    for found in (given, *(getattr(component, name, None) for name in attributes)):
        if isinstance(found, str) and found:
            return found
    raise WorkflowError(f"{component!r} has no id: pass id=")
