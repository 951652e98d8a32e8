"""Processors: checks and rewrites around an agent step, able to stop the run.

An agent step runs its input processors on the prompt before the model sees it,
its output processors on every streamed chunk (``process_output_stream``) and on
the final output (``process_output_result``). Each hook receives an ``abort``
function; calling it raises :class:`~workflows_app.core.errors.TripwireError`, which
ends the run with status ``tripwire`` instead of a failure, so that a policy
decision ("blocked content") is not mistaken for a crash.

A processor is any object with an ``id`` and some of the three hooks, sync or
async; :class:`Processor` is a base class whose hooks change nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, NoReturn, Protocol

from .errors import TripwireError


class Abort(Protocol):
    """What a processor calls to stop the step: ``abort(reason, retry=..., metadata=...)``."""

    def __call__(self, reason: str = "", *, retry: bool = False, metadata: Any = None) -> NoReturn: ...


class Processor:
    """Base class for processors; override the hooks you need."""

    id: str = "processor"

    def __init__(self, id: str | None = None) -> None:
        if id is not None:
            self.id = id

    async def process_input(self, prompt: str, abort: Abort) -> str:
        """The prompt the model will see (return it changed, or as it came)."""
        return prompt

    async def process_output_stream(self, chunk: dict[str, Any], abort: Abort) -> dict[str, Any] | None:
        """A streamed chunk as it should reach the run's stream; ``None`` drops it."""
        return chunk

    async def process_output_result(self, output: Any, abort: Abort) -> Any:
        """The agent's final output (text, or the structured object)."""
        return output

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"


def abort_for(processor: Any) -> Abort:
    """The ``abort`` handed to ``processor``: it names the processor in the tripwire."""
    processor_id = str(getattr(processor, "id", None) or type(processor).__name__)

    def abort(reason: str = "", *, retry: bool = False, metadata: Any = None) -> NoReturn:
        raise TripwireError(
            reason or f"Tripwire triggered by {processor_id}",
            retry=retry,
            metadata=metadata,
            processor_id=processor_id,
        )

    return abort


async def aprocess_input(processors: Iterable[Any], prompt: str) -> str:
    """``prompt`` after every input processor, in order."""
    for processor in processors:
        changed = await _ahook(processor, "process_input", prompt)
        prompt = prompt if changed is None else changed
    return prompt


async def aprocess_chunk(processors: Iterable[Any], chunk: dict[str, Any]) -> dict[str, Any] | None:
    """``chunk`` after every output-stream processor; ``None`` once one drops it."""
    for processor in processors:
        chunk = await _ahook(processor, "process_output_stream", chunk)
        if chunk is None:
            return None
    return chunk


async def aprocess_result(processors: Iterable[Any], output: Any) -> Any:
    """The final output after every output-result processor, in order."""
    for processor in processors:
        changed = await _ahook(processor, "process_output_result", output)
        output = output if changed is None else changed
    return output


async def _ahook(processor: Any, name: str, value: Any) -> Any:
    """Call one hook (sync or async) if the processor has it, else keep ``value``."""
    hook = getattr(processor, name, None)
    if hook is None:
        return value
    result = hook(value, abort_for(processor))
    return await result if inspect.isawaitable(result) else result
