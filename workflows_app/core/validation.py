"""Validating data against the pydantic schemas of steps and workflows.

One function for every place that validates (workflow input, step input, nested
workflow input, resume data), so that defaults, stripping of unknown keys and the
wording of errors are the same everywhere.
"""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import BaseModel

from .errors import ValidationError, issues_of


def validate(schema: type[BaseModel] | None, data: Any, error: type[ValidationError]) -> Any:
    """``data`` parsed by ``schema`` (defaults applied, unknown keys dropped).

    Raises ``error`` with the message ``"<doc>: \\n- <path>: <issue>"`` and the
    issues list on failure. Without a schema the data passes through unchanged.
    """
    if schema is None:
        return data
    try:
        parsed = schema.model_validate({} if data is None and _is_object(schema) else data)
    except pydantic.ValidationError as exc:
        issues = issues_of(exc)
        heading = (error.__doc__ or "Validation failed").strip()
        lines = "".join(f"\n- {issue['path'] or '(root)'}: {issue['message']}" for issue in issues)
        raised = error(f"{heading}: {lines}", issues=issues)
        raised.__cause__ = exc
        raise raised from exc
    return parsed.model_dump(mode="python")


def _is_object(schema: type[BaseModel]) -> bool:
    return not issubclass(schema, pydantic.RootModel)
