"""Errors read back from storage answer the checks made on live ones (core/errors.py)."""

from __future__ import annotations

import json

import pydantic

from workflows_app.core import errors


class Required(pydantic.BaseModel):
    name: str
    count: int


def stored(error: BaseException) -> dict[str, object]:
    """The error as storage holds it: serialized, then through JSON."""
    data = errors.serialize_error(error)
    assert data is not None
    loaded: dict[str, object] = json.loads(json.dumps(data))
    return loaded


def schema_error() -> pydantic.ValidationError:
    try:
        Required.model_validate({})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("the model accepted an empty input")


def test_library_errors_come_back_as_their_class_with_a_pydantic_cause() -> None:
    error = errors.StepInputValidationError("Step input validation failed", issues=[{"path": "name"}])
    error.__cause__ = schema_error()
    restored = errors.restore_error(stored(error))
    assert isinstance(restored, errors.StepInputValidationError)
    assert isinstance(restored, errors.RestoredError)
    assert restored.message == "Step input validation failed"
    assert restored.issues == [{"path": "name"}]
    cause = restored.__cause__
    assert isinstance(cause, pydantic.ValidationError)
    assert [(item["loc"], item["type"]) for item in cause.errors()] == [
        (("name",), "missing"),
        (("count",), "missing"),
    ]
    assert cause.title == "Required"


def test_other_errors_keep_name_message_attributes_and_cause() -> None:
    error = RuntimeError("API rate limit exceeded")
    error.status_code = 429  # type: ignore[attr-defined]
    error.__cause__ = KeyError("quota")
    restored = errors.restore_error(stored(error))
    assert type(restored) is errors.RestoredError
    assert restored.name == "RuntimeError"  # type: ignore[attr-defined]
    assert str(restored) == "API rate limit exceeded"
    assert restored.status_code == 429  # type: ignore[attr-defined]
    assert isinstance(restored.__cause__, errors.RestoredError)
    assert restored.__cause__.name == "KeyError"


def test_a_validation_error_whose_issues_cannot_be_rebuilt_stays_a_restored_error() -> None:
    data = {"name": "ValidationError", "message": "1 validation error for X", "issues": [{"path": "a"}]}
    restored = errors.restore_error(data)
    assert type(restored) is errors.RestoredError
    assert str(restored) == "1 validation error for X"
