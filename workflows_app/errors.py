"""The error hierarchy, importable as ``workflows_app.errors`` (defined in core.errors)."""

from .core.errors import *  # noqa: F403
from .core.errors import __all__ as __all__
