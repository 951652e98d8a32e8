"""What may enter a run and what may leave a step: JSON, within limits.

Every value a run keeps (input, resume data, request context, state, step
outputs, suspend payloads, events a step writes) is stored as JSON, in SQLite, in
PostgreSQL or in memory. :func:`plain` turns a value into the exact JSON form it
will have once stored, or refuses it at once with an error that says where and
why, so that:

- a value JSON cannot hold (an object, a set) never becomes its
  ``str()`` in the database while the next step in the same process gets the live
  object: the next step always receives the stored form, on every engine;
- NaN, infinities and NUL characters, which PostgreSQL refuses and SQLite keeps,
  are refused the same way on every backend, before anything is written;
- input that is nested or large enough to hurt (a 5,000-level document, 100 MB of
  text) is refused where it enters, not in a worker later.

Datetimes, UUIDs, decimals and enums become the text pydantic gives them in
JSON. The walk is iterative: a hostile document cannot exhaust Python's
recursion.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from .errors import PayloadTooDeepError, PayloadTooLargeError, UnsupportedValueError

# Values JSON has no type for but a well-known text form: kept as that text, as pydantic does.
_AS_TEXT = (datetime.date, datetime.time, datetime.timedelta, uuid.UUID, decimal.Decimal, enum.Enum)


@dataclass(frozen=True)
class PayloadLimits:
    """How deep and how large a value entering a run may be (``MAX_PAYLOAD_*`` settings)."""

    max_depth: int = 64
    max_bytes: int = 1_048_576


_limits = PayloadLimits()


def configure(limits: PayloadLimits) -> None:
    """Set the limits every entry point checks (the Django app calls this from settings)."""
    global _limits
    _limits = limits


def limits() -> PayloadLimits:
    return _limits


def plain(value: Any, *, what: str, limited: bool = True) -> Any:
    """``value`` as it will be stored: JSON types only, tuples as lists, models as their JSON.

    ``what`` names the value in errors ("the output of step 'charge'"). With
    ``limited`` the depth and size limits apply too (values entering from
    outside); a step's own output is only held to being JSON.
    """
    bounds = _limits if limited else None
    root: list[Any] = [None]
    # Each frame: (value, container to fill, key in that container, depth, location for errors).
    stack: list[tuple[Any, Any, Any, int, str]] = [(value, root, 0, 0, "")]
    size = 0
    while stack:
        item, into, key, depth, where = stack.pop()
        if bounds is not None and depth > bounds.max_depth:
            raise PayloadTooDeepError(
                f"{_capital(what)} is nested more than {bounds.max_depth} levels deep (at {_at(where)})"
            )
        converted, children = _convert(item, what, where)
        into[key] = converted
        size += _weight(item)
        if bounds is not None and size > bounds.max_bytes:
            raise PayloadTooLargeError(f"{_capital(what)} is larger than {bounds.max_bytes:,} bytes as JSON")
        for child_key, child, child_where in children:
            stack.append((child, converted, child_key, depth + 1, where + child_where))
    return root[0]


# Longer integers are not numbers anyone means to send, and converting them costs quadratic time.
MAX_INTEGER_DIGITS = 1000


def parse_json(text: str | bytes, *, what: str, envelope: int = 0) -> Any:
    """Decode JSON ``text`` from outside (a request body, a form field, a command's argument), safely.

    Refused at once with a :class:`PayloadError` naming ``what``: the constants
    NaN and Infinity (Python's decoder takes them; no store does), integers over
    :data:`MAX_INTEGER_DIGITS` digits, and nesting deeper than ``MAX_PAYLOAD_DEPTH``
    plus ``envelope`` (the levels of a request body around the values it carries),
    whether the decoder could follow it (Python 3.13's can, 5,000 levels deep) or
    not (a ``RecursionError`` otherwise, an answer of 500). Text that is not JSON
    at all raises ``json.JSONDecodeError``, as ``json.loads`` does, for the caller
    to word. The size limit of the values that enter a run is then :func:`plain`'s.
    """
    depth = _limits.max_depth + envelope
    too_deep = PayloadTooDeepError(f"{_capital(what)} is nested more than {depth} levels deep")

    def refuse_constant(name: str) -> Any:
        raise UnsupportedValueError(f"{_capital(what)} holds {name}, which JSON cannot store")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise UnsupportedValueError(
                f"{_capital(what)} holds an integer of more than {MAX_INTEGER_DIGITS:,} digits"
            )
        return int(digits)

    try:
        value = json.loads(text, parse_constant=refuse_constant, parse_int=integer)
    except RecursionError:
        raise too_deep from None
    if _deeper_than(value, depth):
        raise too_deep
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a value in ``value`` lies more than ``limit`` levels down, as :func:`plain` counts."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict | list):
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _convert(item: Any, what: str, where: str) -> tuple[Any, list[tuple[Any, Any, str]]]:
    """The stored form of ``item`` with its children still to fill: (container or value, children)."""
    if item is None or isinstance(item, bool | int):
        return item, []
    if isinstance(item, str):
        if "\x00" in item:
            raise UnsupportedValueError(f"{_capital(what)} contains a NUL character at {_at(where)}")
        return item, []
    if isinstance(item, float):
        if not math.isfinite(item):
            raise UnsupportedValueError(
                f"{_capital(what)} holds {item!r} at {_at(where)}, which JSON cannot store"
            )
        return item, []
    if isinstance(item, dict):
        out: dict[str, Any] = {}
        children = []
        for key, child in item.items():
            name = _key(key, what, where)
            out[name] = None
            children.append((name, child, f"[{name!r}]"))
        return out, children
    if isinstance(item, list | tuple):
        return [None] * len(item), [(i, child, f"[{i}]") for i, child in enumerate(item)]
    if isinstance(item, BaseModel):
        return _convert(item.model_dump(mode="json"), what, where)
    if isinstance(item, _AS_TEXT):
        return to_jsonable_python(item), []  # as pydantic writes them in JSON: ISO 8601, text
    raise UnsupportedValueError(
        f"{_capital(what)} holds a value of type {type(item).__name__} at {_at(where)}, which is not JSON "
        "(use dicts, lists, strings, numbers, booleans, None or pydantic models)"
    )


def _key(key: Any, what: str, where: str) -> str:
    """A dict key as JSON keeps it: strings as they are, numbers and constants as ``json`` writes them."""
    if isinstance(key, str):
        if "\x00" in key:
            raise UnsupportedValueError(f"{_capital(what)} has a key with a NUL character at {_at(where)}")
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float) and math.isfinite(key):
        return repr(key)
    raise UnsupportedValueError(
        f"{_capital(what)} has a key {key!r} ({type(key).__name__}) at {_at(where)}, which JSON cannot hold"
    )


def _weight(item: Any) -> int:
    """About the bytes ``item`` adds to the JSON text, without its children."""
    if isinstance(item, str):
        return len(item) + 3
    if isinstance(item, dict):
        return 2 + sum(len(k) + 4 if isinstance(k, str) else 8 for k in item)
    if isinstance(item, list | tuple):
        return 2 + len(item)
    return 8


def _at(where: str) -> str:
    """A location for an error message, shortened: a hostile document can be deep."""
    if not where:
        return "the top"
    return where if len(where) <= 80 else where[:77] + "..."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
