"""How a pydantic-ai agent or tool becomes a step, without importing pydantic-ai first.

pydantic-ai is an optional, heavy dependency: :mod:`.agents` imports it, so this
adapter imports :mod:`.agents` only once the user has imported pydantic-ai, and
only the package's ``__init__`` hands the adapter to :mod:`.steps`.
"""

from __future__ import annotations

import sys
from typing import Any

from .steps import Step


def pydantic_ai_step(component: Any, **options: Any) -> Step | None:
    """The step of a pydantic-ai ``Agent`` or ``Tool``; ``None`` for anything else."""
    if "pydantic_ai" not in sys.modules:
        return None  # nobody imported pydantic-ai, so the component cannot come from it
    from . import agents  # the optional dependency, loaded on first use

    if not agents.is_pydantic_ai_component(component):
        return None
    return agents.component_step(component, **options)
