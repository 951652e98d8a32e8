"""Values entering or leaving a run are JSON within limits, or refused at once with a clear error."""

from __future__ import annotations

import datetime

import pytest
from pydantic import BaseModel

from workflows_app import errors
from workflows_app.core import payloads
from workflows_app.core.payloads import PayloadLimits, plain


class Item(BaseModel):
    name: str
    when: datetime.date


def test_plain_gives_the_stored_form() -> None:
    value = {"t": (1, 2), "m": Item(name="a", when=datetime.date(2026, 1, 2)), 3: None, "f": 1.5}
    assert plain(value, what="the input") == {
        "t": [1, 2],
        "m": {"name": "a", "when": "2026-01-02"},
        "3": None,
        "f": 1.5,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": {1, 2}}, "The output holds a value of type set at ['a'], which is not JSON"),
        ({"a": [object()]}, "The output holds a value of type object at ['a'][0], which is not JSON"),
        (float("nan"), "The output holds nan at the top, which JSON cannot store"),
        ({"x": float("inf")}, "The output holds inf at ['x'], which JSON cannot store"),
        ("a\x00b", "The output contains a NUL character at the top"),
        ({"k\x00": 1}, "The output has a key with a NUL character at the top"),
        ({(1, 2): 1}, "The output has a key (1, 2) (tuple) at the top, which JSON cannot hold"),
    ],
)
def test_values_json_cannot_hold_are_refused(value: object, message: str) -> None:
    with pytest.raises(errors.UnsupportedValueError) as raised:
        plain(value, what="the output")
    assert str(raised.value).startswith(message)
    assert isinstance(raised.value, ValueError)


def test_depth_and_size_limits_apply_to_values_from_outside() -> None:
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(errors.PayloadTooDeepError, match="nested more than 64 levels deep"):
        plain(deep, what="the input")
    with pytest.raises(errors.PayloadTooLargeError, match="larger than 1,048,576 bytes"):
        plain({"text": "x" * 1_100_000}, what="the input")
    assert plain(deep, what="a step's output", limited=False) is not None  # no recursion error either


def test_limits_are_configurable() -> None:
    saved = payloads.limits()
    payloads.configure(PayloadLimits(max_depth=2, max_bytes=100))
    try:
        assert plain({"a": {"b": 1}}, what="the input") == {"a": {"b": 1}}
        with pytest.raises(errors.PayloadTooDeepError):
            plain({"a": {"b": {"c": 1}}}, what="the input")
        with pytest.raises(errors.PayloadTooLargeError):
            plain("y" * 200, what="the input")
    finally:
        payloads.configure(saved)
