"""The engines: one pipeline (:mod:`.base`), two placements of the work (default, evented)."""

from __future__ import annotations

from .default import DefaultEngine
from .evented import EventedEngine

ENGINES = {"default": DefaultEngine, "evented": EventedEngine}

__all__ = ["ENGINES", "DefaultEngine", "EventedEngine"]
