"""In headless Chromium: the admin's run page offers the event a step waits on, and sends it.

The server and the logged-in page are conftest.py's (daphne, evented over Redis with a
worker on the PostgreSQL leg).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.cluster import Cluster


def test_send_the_awaited_event_from_the_run_page(server: tuple[Cluster, str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    cluster, base, _ = server
    page.goto(f"{base}/admin/workflows_app/workflowrun/workflows/")
    page.click("#workflow-browser-payment a.button")
    page.fill("input[name=title]", "o-42")
    page.click("input[type=submit]")

    expect(page.locator("#run-status")).to_have_text("suspended")
    expect(page.locator(".wf-waits")).to_contain_text("payment-received")
    expect(page.locator(".wf-waits")).to_contain_text("o-42")
    page.fill("input[name=await-payment-amount]", "30")
    page.fill("input[name=await-payment-payer]", "ann")
    page.click(".wf-send-event-form input[type=submit]")
    expect(page.locator("#run-status")).to_have_text("success")

    ((run_id,),) = cluster.query("SELECT run_id FROM workflows_app_workflowrun")
    assert cluster.result(run_id) == {"paid": {"amount": 30, "payer": "ann"}}
