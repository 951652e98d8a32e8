"""In headless Chromium: a run over its workflow's limit waits, says so, and starts when a slot frees.

Same server as ``test_admin_in_chromium`` (daphne, evented over Redis with a
worker on the PostgreSQL leg).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e.cluster import Cluster

from .test_admin_in_chromium import server

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["server"]  # the fixture, shared


def test_a_run_over_the_limit_waits_on_its_page_and_starts_when_the_slot_frees(
    server: tuple[Cluster, str, Path],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _, base, _ = server
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

        first = _start(page, base, "first")
        expect(page.locator("#run-status")).to_have_text("suspended")  # it holds the one slot
        second = _start(page, base, "second")
        expect(page.locator("#run-status")).to_have_text("pending")
        expect(page.locator(".wf-limit-wait")).to_contain_text("Waiting for a slot of its workflow's limit")

        page.goto(first)
        page.fill("input[name=hold-note]", "done")
        page.click(".wf-resume-form input[type=submit]")
        expect(page.locator("#run-status")).to_have_text("success")

        page.goto(second)  # the freed slot went to the waiting run
        expect(page.locator("#run-status")).to_have_text("suspended")
        expect(page.locator(".wf-limit-wait")).to_have_count(0)
        browser.close()


def _start(page: Page, base: str, title: str) -> str:
    """Start a run from the admin's workflows page; the address of its run page."""
    page.goto(f"{base}/admin/workflows_app/workflowrun/workflows/")
    page.click("#workflow-browser-limited a.button")
    page.fill("input[name=title]", title)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/change/$"))
    return page.url
