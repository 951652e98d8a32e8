"""Sending events: to one run, or to every run waiting on an event name and key.

A send goes through the engine API (``Run.asend_event``,
``workflows_app.asend_event``), which stores the event first and resumes the
steps waiting on it; an event nobody waits on yet is kept for the first step
that suspends on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest
from ninja import Router

from ..core.errors import ResumeDataValidationError
from ..core.sent_events import asend_event
from ..request_threads import detach
from . import operations
from .auth import acheck_visible, arequire, caller
from .errors import ApiError, field_errors
from .schemas import EventSentOut, ProblemOut, SendEventIn, SendRunEventIn

router = Router(tags=["events"])

_SEND = {
    200: EventSentOut,
    400: ProblemOut,
    401: ProblemOut,
    403: ProblemOut,
    404: ProblemOut,
    409: ProblemOut,
    422: ProblemOut,
}


@router.post("/runs/{run_id}/send-event", response=_SEND, summary="Send an event to a run")
async def send_run_event(request: HttpRequest, run_id: str, body: SendRunEventIn) -> dict[str, Any]:
    """Resume the run's step waiting on event `name` with `data`.

    When no step of the run waits on it yet, the event is kept and delivered when
    one suspends on it (`kept`: true). With `wait`, answers once the resumed run
    is finished or suspended again (or `timeout` passed). 409 when the run has ended; 422 when the
    data does not match the waiting step's resume schema. Needs the resume
    permission.
    """
    await acheck_visible(caller(request), run_id)
    await arequire(caller(request), "resume")
    run = await operations.arun_for(await operations.aload(run_id))
    sending = detach(run.asend_event(body.name, body.data, wait=body.wait))
    with _data_errors():
        await operations.adrive(run_id, sending, wait=body.wait, timeout=body.timeout)
    delivered = sending.result() if sending.done() else True  # accepted: the delivery was committed
    return {"name": body.name, "key": None, "run_ids": [run_id] if delivered else [], "kept": not delivered}


@router.post("/send-event", response=_SEND, summary="Send an event to every run waiting on it")
async def send_event(request: HttpRequest, body: SendEventIn) -> dict[str, Any]:
    """Resume every run with a step waiting on event `name` and `key`, with `data`.

    `run_ids` are the runs resumed. When none waits yet, the event is kept
    (`EVENT_RETENTION_SECONDS`) for the first run that suspends on it. It reaches
    runs whoever started them, so it needs the resume permission.
    """
    await arequire(caller(request), "resume")
    with _data_errors():
        run_ids = await asend_event(body.name, body.data, key=body.key)
    return {"name": body.name, "key": body.key, "run_ids": run_ids, "kept": not run_ids}


@contextlib.contextmanager
def _data_errors() -> Iterator[None]:
    """Report resume-schema errors against the request's ``data`` field."""
    try:
        yield
    except ResumeDataValidationError as exc:
        raise ApiError(
            422, "invalid-resume-data", exc.message, errors=field_errors(exc.issues, "data")
        ) from exc
