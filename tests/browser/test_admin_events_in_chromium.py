"""In headless Chromium: the admin's run page offers the event a step waits on, and sends it.

Same server as ``test_admin_in_chromium`` (daphne, evented over Redis with a
worker on the PostgreSQL leg).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.cluster import Cluster

from .test_admin_in_chromium import server

__all__ = ["server"]  # the fixture, shared


def test_send_the_awaited_event_from_the_run_page(server: tuple[Cluster, str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    cluster, base, _ = server
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is missing: `python3 dev.py test` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "browser-pw")
        page.click("input[type=submit]")
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
        browser.close()

    ((run_id,),) = cluster.query("SELECT run_id FROM workflows_app_workflowrun")
    assert cluster.result(run_id) == {"paid": {"amount": 30, "payer": "ann"}}
