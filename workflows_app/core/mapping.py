"""``.map()``: a synthetic step that builds the next step's input.

Mapping values name where each field comes from: another step's output, the
workflow input, the request context, a constant, a function, or a string
template. Templates are checked when the workflow is defined.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import TemplateError, WorkflowDefinitionError, WorkflowError
from .steps import COMPONENT_MAPPING, Step

if TYPE_CHECKING:
    from .context import StepContext

_NAMESPACE = uuid.UUID("6f1c3a52-9d0e-4b7a-8a51-1f2e3d4c5b6a")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NAMESPACES = {
    "inputData": "input_data",
    "input_data": "input_data",
    "initData": "init_data",
    "init_data": "init_data",
    "state": "state",
    "requestContext": "request_context",
    "request_context": "request_context",
    "stepResults": "step_results",
    "step_results": "step_results",
}


def stable_id(prefix: str, workflow_id: str, position: int) -> str:
    """A generated id that is the same every time the same definition is built."""
    return f"{prefix}_{uuid.uuid5(_NAMESPACE, f'{workflow_id}:{position}')}"


_GENERATED = re.compile(
    r"^(?P<prefix>[a-z_]+)_(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def short_label(step_id: str) -> str:
    """A generated id cut to its prefix and four hex digits (``sleep_0e67…``); other ids as they are.

    Generated ids are 40-odd characters of which only the prefix says anything
    to a reader; shown whole they make the widest nodes of a graph.
    """
    found = _GENERATED.match(step_id)
    return f"{found['prefix']}_{found['uuid'][:4]}…" if found else step_id


def map_variable(*, path: str = ".", step: Any = None, init_data: Any = None) -> dict[str, Any]:
    """A mapping value taken from a step's output or from the workflow input."""
    if (step is None) == (init_data is None):
        raise WorkflowDefinitionError("map_variable needs exactly one of step= or init_data=")
    return {"step": step, "path": path} if step is not None else {"init_data": init_data, "path": path}


def mapping_step(spec: Mapping[str, Any] | Callable[..., Any], step_id: str) -> Step:
    """Build the step behind ``.map(spec)``."""
    if callable(spec) and not isinstance(spec, Mapping):
        return Step(id=step_id, execute=spec, component=COMPONENT_MAPPING)
    if not isinstance(spec, Mapping):
        raise WorkflowDefinitionError(".map() takes a mapping or a function")
    for value in spec.values():
        if isinstance(value, Mapping) and "template" in value:
            validate_template(str(value["template"]))
    fields = dict(spec)

    async def execute(ctx: StepContext) -> dict[str, Any]:
        return {key: await _resolve(value, ctx) for key, value in fields.items()}

    return Step(id=step_id, execute=execute, component=COMPONENT_MAPPING)


async def _resolve(value: Any, ctx: StepContext) -> Any:
    if not isinstance(value, Mapping):
        raise WorkflowError(f"Invalid mapping value {value!r}")
    if "value" in value:
        return value["value"]
    if "fn" in value:
        result = value["fn"](ctx)
        return await result if inspect.isawaitable(result) else result
    if "template" in value:
        return await render_template(str(value["template"]), ctx)
    if "request_context_path" in value or "requestContextPath" in value:
        key = value.get("request_context_path", value.get("requestContextPath"))
        return get_path(ctx.request_context.to_dict(), key)
    if "init_data" in value:
        return get_path(ctx.get_init_data(), value.get("path", "."))
    if "step" in value:
        return await _from_step(value["step"], value.get("path", "."), ctx)
    raise WorkflowError(f"Invalid mapping value {value!r}")


async def _from_step(step: Any, path: str, ctx: StepContext) -> Any:
    candidates = step if isinstance(step, list | tuple) else [step]
    for candidate in candidates:
        output = await ctx.get_step_result(candidate)
        if output is not None:
            return get_path(output, path)
    return None


def get_path(data: Any, path: str | None) -> Any:
    """Follow a dotted path into dicts and lists; ``"."`` or empty is the whole value."""
    if path in (None, "", "."):
        return data
    current = data
    for part in str(path).split("."):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list | tuple) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            current = getattr(current, part, None)
        if current is None:
            return None
    return current


def validate_template(template: str) -> None:
    """Reject a template whose placeholders can never resolve, at definition time."""
    for match in _PLACEHOLDER.finditer(template):
        inner = match.group(1)
        if not inner or inner != inner.strip():
            raise TemplateError(f"Template placeholder ${{{inner}}} is empty or whitespace-padded")
        namespace, _, rest = inner.partition(".")
        if namespace not in _NAMESPACES:
            raise TemplateError(f'Template placeholder uses unknown namespace "{namespace}"')
        if _NAMESPACES[namespace] == "step_results" and not rest.split(".")[0]:
            raise TemplateError("Template placeholder must name a step: ${stepResults.<stepId>}")


async def render_template(template: str, ctx: StepContext) -> str:
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(template[last : match.start()])
        value = await _placeholder_value(match.group(1), ctx)
        if isinstance(value, Mapping | list | tuple):
            raise WorkflowError(f"Template placeholder ${{{match.group(1)}}} resolved to an object/array")
        parts.append("" if value is None else _text(value))
        last = match.end()
    parts.append(template[last:])
    return "".join(parts)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _placeholder_value(inner: str, ctx: StepContext) -> Any:
    namespace, _, rest = inner.partition(".")
    kind = _NAMESPACES[namespace]
    if kind == "input_data":
        return get_path(ctx.input_data, rest)
    if kind == "init_data":
        return get_path(ctx.get_init_data(), rest)
    if kind == "state":
        return get_path(ctx.state, rest)
    if kind == "request_context":
        return get_path(ctx.request_context.to_dict(), rest)
    return await _step_result_value(rest, ctx)


async def _step_result_value(rest: str, ctx: StepContext) -> Any:
    known = ctx.known_step_ids()
    step_id = next(
        (sid for sid in sorted(known, key=len, reverse=True) if rest == sid or rest.startswith(sid + ".")),
        None,
    )
    if step_id is None:
        raise WorkflowError(
            f"Template placeholder ${{stepResults.{rest}}} names no step of this workflow: "
            f"stepResults.{rest.split('.')[0]}"
        )
    output = await ctx.get_step_result(step_id)
    return get_path(output, rest[len(step_id) + 1 :])
