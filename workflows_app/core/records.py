"""Copies of the storage's records with a few fields changed, as a step makes several of.

``dataclasses.replace`` builds the copy through ``__init__``, passing every
field again; for a plain record (a dataclass that is neither frozen nor
slotted and has no ``__post_init__``) a new instance holding a copy of the
old one's fields is the same record, at a fraction of the cost. Any other
dataclass still goes through ``replace``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

_R = TypeVar("_R")


def evolve(record: _R, **changes: Any) -> _R:
    """``record`` with ``changes``, as ``dataclasses.replace(record, **changes)`` returns it."""
    cls = type(record)
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    if (
        cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        or hasattr(cls, "__post_init__")
        or hasattr(cls, "__slots__")
        or not changes.keys() <= fields.keys()
    ):
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    clone = object.__new__(cls)
    clone.__dict__.update(record.__dict__)
    clone.__dict__.update(changes)
    return clone
