"""A workflow whose step logs, for the worker log test (imported through WORKFLOWS_MODULES)."""

from __future__ import annotations

import logging
from typing import Any

from workflows_app import StepContext, create_step, create_workflow

logger = logging.getLogger(__name__)


async def _charge(ctx: StepContext) -> dict[str, Any]:
    logger.warning("charging %s", ctx.input_data["amount"])
    return {"charged": ctx.input_data["amount"]}


charging = create_workflow("deploy-logging").then(create_step("charge", execute=_charge)).commit()
