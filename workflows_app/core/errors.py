"""The one error hierarchy of workflows_app.

Every error a user can catch derives from :class:`WorkflowError`; the docstring of
each class is its default message. The engine's own control-flow signals (suspend,
bail, abort) derive from ``BaseException`` so that a step's ``except Exception``
cannot swallow them by accident.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import ValidationError as SchemaError

__all__ = [
    "AbortSignalRaised",
    "AgentNotFoundError",
    "BailSignal",
    "EventError",
    "ExecutionFlowNotDefinedError",
    "IdempotencyConflictError",
    "InputValidationError",
    "LimitKeyError",
    "LoopLimitError",
    "MultipleSuspendedStepsError",
    "NonRetryableError",
    "PayloadError",
    "PayloadTooDeepError",
    "PayloadTooLargeError",
    "RestoredError",
    "ResumeConflictError",
    "ResumeDataValidationError",
    "ResumeError",
    "RunExistsError",
    "RunHeldError",
    "RunNotActiveError",
    "RunNotFoundError",
    "RunNotSuspendedError",
    "StepControlSignal",
    "StepInputValidationError",
    "StepNotFoundError",
    "StepNotSuspendedError",
    "StepTimeoutError",
    "SuspendSignal",
    "TemplateError",
    "TimeTravelError",
    "ToolNotFoundError",
    "TripwireError",
    "UncommittedWorkflowError",
    "UnsupportedValueError",
    "ValidationError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowNotFoundError",
    "WorkflowTimeoutError",
    "serialize_error",
]


class WorkflowError(Exception):
    """A workflow operation failed."""

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.details = details

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class WorkflowDefinitionError(WorkflowError):
    """The workflow definition is invalid."""


class ExecutionFlowNotDefinedError(WorkflowDefinitionError):
    """Execution flow of workflow is not defined. Add steps to the workflow via .then(), .branch(), etc."""


class UncommittedWorkflowError(WorkflowDefinitionError):
    """Uncommitted step flow changes detected. Call .commit() to register the steps."""


class ValidationError(WorkflowError):
    """Validation failed."""

    def __init__(self, message: str | None = None, *, issues: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


class InputValidationError(ValidationError):
    """Invalid input data"""


class StepInputValidationError(ValidationError):
    """Step input validation failed"""


class ResumeDataValidationError(ValidationError):
    """Invalid resume data"""


class PayloadError(WorkflowError, ValueError):
    """A value cannot enter or leave a run: it is not JSON, or too large, or too deep."""


class UnsupportedValueError(PayloadError):
    """The value is not JSON (an object, a set, NaN, infinity or a NUL character)."""


class PayloadTooLargeError(PayloadError):
    """The value is larger than the MAX_PAYLOAD_BYTES setting allows."""


class PayloadTooDeepError(PayloadError):
    """The value is nested deeper than the MAX_PAYLOAD_DEPTH setting allows."""


class ResumeError(WorkflowError):
    """This workflow run cannot be resumed."""


class RunNotSuspendedError(ResumeError):
    """This workflow run was not suspended"""


class StepNotSuspendedError(ResumeError):
    """This workflow step was not suspended."""


class MultipleSuspendedStepsError(ResumeError):
    """Multiple suspended steps found. Please specify which step to resume."""


class ResumeConflictError(ResumeError):
    """The suspended step was resumed concurrently by another caller."""


class RunNotActiveError(WorkflowError):
    """This workflow run was not active"""


class EventError(WorkflowError, ValueError):
    """The event is not valid: its name must be a non-empty string, its key a string or None."""


class RunHeldError(WorkflowError):
    """A live worker still holds this run: restarting it now would run its steps twice."""


class TimeTravelError(WorkflowError):
    """Time travel is not possible for this run."""


class RunExistsError(WorkflowError):
    """A workflow run with this id already exists."""


class IdempotencyConflictError(WorkflowError):
    """This idempotency key already started a run of this workflow with other input."""


class RunNotFoundError(WorkflowError, LookupError):
    """Workflow run not found."""


class WorkflowNotFoundError(WorkflowError, LookupError):
    """Workflow not found."""


class StepNotFoundError(WorkflowError, LookupError):
    """Step not found in the workflow."""


class AgentNotFoundError(WorkflowError, LookupError):
    """Agent not found."""


class ToolNotFoundError(WorkflowError, LookupError):
    """Tool not found."""


class TripwireError(WorkflowError):
    """A processor stopped the step.

    Raised by the ``abort`` a processor of an agent step receives (or by any step);
    the run then ends with status ``tripwire`` and ``result.tripwire`` says who
    stopped it and why, instead of failing like an ordinary error.
    """

    def __init__(
        self,
        reason: str | None = None,
        *,
        retry: bool = False,
        metadata: Any = None,
        processor_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.retry = retry
        self.metadata = metadata
        self.processor_id = processor_id

    def to_dict(self) -> dict[str, Any]:
        """The ``result.tripwire`` of the run this stopped."""
        return {
            "reason": self.message,
            "retry": self.retry,
            "metadata": self.metadata,
            "processor_id": self.processor_id,
        }


class LoopLimitError(WorkflowError):
    """A loop reached the most iterations a run may give one loop (the MAX_LOOP_ITERATIONS setting)."""


class LimitKeyError(WorkflowError):
    """The concurrency key of a run could not be computed from its input; nothing was stored."""


class NonRetryableError(WorkflowError):
    """A step error that must not be retried."""


class StepTimeoutError(WorkflowError):
    """A step attempt ran longer than its timeout.

    The step saw its abort signal, then was cancelled; the attempt counts as
    failed, so the step's retry policy may run it again.
    """


class WorkflowTimeoutError(WorkflowError):
    """A run did not finish within its workflow's timeout; the run failed."""


class TemplateError(WorkflowDefinitionError):
    """Invalid mapping template."""


class StepControlSignal(BaseException):
    """Raised inside a step to hand control back to the engine."""


class SuspendSignal(StepControlSignal):
    """The step asked to be suspended."""


class BailSignal(StepControlSignal):
    """The step ended the whole run successfully."""

    def __init__(self, value: Any) -> None:
        super().__init__("bail")
        self.value = value


class AbortSignalRaised(StepControlSignal):
    """The step or the caller canceled the run."""


def serialize_error(error: BaseException | dict[str, Any] | None) -> dict[str, Any] | None:
    """Turn an exception into the plain dict stored and streamed (no traceback).

    Keeps the class name, the message, the public attributes the user set on it and
    the ``__cause__`` chain, so that a failure read back from storage still says what
    happened.
    """
    if error is None or isinstance(error, dict):
        return error
    data: dict[str, Any] = {"name": type(error).__name__, "message": _message_of(error)}
    for key, value in vars(error).items():
        if key.startswith("_") or key in data or callable(value):
            continue
        data[key] = _jsonable(value)
    if "issues" not in data and isinstance(error, SchemaError):
        data["issues"] = issues_of(error)  # a pydantic error's issues live behind errors(), not attributes
    cause = error.__cause__
    if cause is not None:
        data["cause"] = serialize_error(cause)
    return data


def issues_of(exc: SchemaError) -> list[dict[str, Any]]:
    """The issues of a pydantic error as plain data: ``path``, ``message`` and ``type``."""
    return [
        {"path": ".".join(str(p) for p in item["loc"]), "message": item["msg"], "type": item["type"]}
        for item in exc.errors(include_url=False)
    ]


def _message_of(error: BaseException) -> str:
    if isinstance(error, WorkflowError):
        return error.message
    return str(error.args[0]) if len(error.args) == 1 else str(error)


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    try:
        return to_jsonable_python(value)
    except Exception:  # a value JSON cannot hold is kept as its text
        return repr(value)


class RestoredError(Exception):
    """An error rebuilt from its stored form, keeping name, message and attributes.

    Build one with :func:`restore_error`, which also gives back the library's own
    classes.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data.get("message", ""))
        self.name = data.get("name", "Error")
        for key, value in data.items():
            if key not in {"message", "name", "cause"}:
                setattr(self, key, value)
        if data.get("cause"):
            self.__cause__ = restore_error(data["cause"])

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


def restore_error(data: dict[str, Any]) -> Exception:
    """An error rebuilt from its stored form (:func:`serialize_error`).

    A step's error read back in another process, or after a restart, should still
    answer the checks callers make on a live one: the library's own errors come
    back as their class (``isinstance(error, StepInputValidationError)`` holds),
    a pydantic validation error as pydantic's, rebuilt from its issues. Anything
    else is a :class:`RestoredError` with the stored name and attributes.
    """
    name = str(data.get("name", "Error"))
    if name == "ValidationError" and data.get("issues"):  # pydantic's (ours is only subclassed)
        return _schema_error(data) or RestoredError(data)
    library = _library_errors().get(name)
    if library is not None:
        try:
            restored: Exception = _restored_class(library)(data)
            return restored
        except TypeError:  # a subclass whose constructor wants more than a message
            pass
    return RestoredError(data)


_RESTORED_CLASSES: dict[type[WorkflowError], type[RestoredError]] = {}


def _restored_class(library: type[WorkflowError]) -> type[RestoredError]:
    """``library`` with RestoredError's constructor; one class per library class."""
    if library not in _RESTORED_CLASSES:
        namespace = {"__module__": library.__module__}
        _RESTORED_CLASSES[library] = type(library.__name__, (RestoredError, library), namespace)
    return _RESTORED_CLASSES[library]


def _library_errors() -> dict[str, type[WorkflowError]]:
    found: dict[str, type[WorkflowError]] = {}
    pending: list[type[WorkflowError]] = [WorkflowError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


def _schema_error(data: dict[str, Any]) -> Exception | None:
    """A pydantic ``ValidationError`` from stored issues (``path``, ``message``, ``type``)."""
    from pydantic_core import ValidationError as SchemaError

    issues = data["issues"]
    if not all(isinstance(issue, dict) and "type" in issue for issue in issues):
        return None
    line_errors: list[Any] = [
        {"type": issue["type"], "loc": tuple(str(issue.get("path", "")).split(".")), "input": None}
        for issue in issues
    ]
    # pydantic's message starts "<n> validation errors for <title>".
    title = str(data.get("message", "")).partition(" for ")[2].partition("\n")[0] or "Input"
    try:
        return SchemaError.from_exception_data(title, line_errors)
    except (KeyError, TypeError, ValueError):  # a kind of issue that needs context we did not keep
        return None
