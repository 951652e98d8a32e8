"""In headless Chromium, the run page under the policies of issue 14: limits and retries.

A run over its workflow's limit waits, says so, and starts when a slot frees; a
step that failed a try and ran again shows the failed try, live.

The server and the logged-in page are conftest.py's (daphne, evented over Redis with a
worker on the PostgreSQL leg).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e.cluster import Cluster

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_run_over_the_limit_waits_on_its_page_and_starts_when_the_slot_frees(
    server: tuple[Cluster, str, Path], page: Page
) -> None:
    from playwright.sync_api import expect

    _, base, _ = server
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


def test_a_step_that_failed_a_try_shows_it_live_and_after_its_success(
    server: tuple[Cluster, str, Path], page: Page
) -> None:
    from playwright.sync_api import expect

    cluster, base, gate = server
    page.goto(f"{base}/admin/workflows_app/workflowrun/workflows/")
    page.click("#workflow-browser-retried a.button")
    page.fill("input[name=title]", "feed")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/change/$"))

    failed = page.locator('.wf-failed-attempt[data-path="fetch"]')
    expect(failed).to_have_count(1)  # the second try holds at the gate: the page shows the first
    expect(failed).to_contain_text("try 0")
    expect(failed).to_contain_text("ConnectionError: upstream down for feed")
    expect(page.locator("#run-status")).to_have_text("running")
    gate.touch()

    expect(page.locator("#run-status")).to_have_text("success")  # live, over the run's stream
    step = page.locator('.wf-step[data-path="fetch"]')
    expect(step.locator(".wf-step-status")).to_have_text("success")
    expect(step.locator("td").nth(8)).to_have_text("2")  # the attempts column: two tries
    expect(failed).to_have_count(1)
    expect(page.locator("#run-live")).to_contain_text("workflow-step-retry")  # in the event log
    ((run_id,),) = cluster.query("SELECT run_id FROM workflows_app_workflowrun")
    assert cluster.result(run_id) == {"fetched": "feed"}


def _start(page: Page, base: str, title: str) -> str:
    """Start a run from the admin's workflows page; the address of its run page."""
    page.goto(f"{base}/admin/workflows_app/workflowrun/workflows/")
    page.click("#workflow-browser-limited a.button")
    page.fill("input[name=title]", title)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/change/$"))
    return page.url
