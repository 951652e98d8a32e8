"""One end-to-end test in headless Chromium: the admin starts a run, watches it live, resumes it,
travels back in time from a step, and cancels the run from the runs list.

The server and the logged-in page are conftest.py's (daphne on a scratch
database; on the PostgreSQL leg the run is evented, over Redis, with a worker).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import ROOT, Cluster

# Three processes, a browser and a dozen pages on a shared, loaded machine: more than the default 120 s.
pytestmark = pytest.mark.timeout(420)

IMAGES = ROOT / "docs" / "images"  # the screenshots docs/admin.md shows, taken afresh by each run


def test_start_watch_live_and_resume_a_run_in_the_admin(server: tuple[Cluster, str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    cluster, base, gate = server
    page.goto(f"{base}/admin/workflows_app/workflowrun/workflows/")
    page.click("#workflow-browser-publishing a.button")
    page.fill("input[name=title]", "Otters")
    page.click("input[type=submit]")

    status = page.locator("#run-status")
    expect(status).to_have_text("running")
    gate.touch()  # let the first step finish: the page must change by itself
    expect(status).to_have_text("suspended")
    expect(page.locator(".wf-node[data-path=review]")).to_have_class("wf-node wf-status-suspended")
    expect(page.locator(".wf-resume-form")).to_be_visible()
    _the_run_page_reads_as_an_operator_expects(page, expect)
    page.screenshot(path=str(IMAGES / "admin-run-page.png"), full_page=True)

    page.check("input[name=review-approved]")
    page.fill("input[name=review-reviewer]", "ann")
    page.click(".wf-resume-form input[type=submit]")
    expect(page.locator("#run-status")).to_have_text("success")

    page.select_option("#wf-travel-step", "prepare")
    page.click(".wf-travel-form input[type=submit]")
    expect(page.locator("input[name=input-title]")).to_have_value("Otters")  # the stored input
    page.fill("input[name=input-title]", "Beavers")
    page.screenshot(path=str(IMAGES / "admin-time-travel.png"), full_page=True)
    page.click(".wf-travel-form input[type=submit]")
    expect(page.locator("#run-status")).to_have_text("suspended")  # review asks again
    expect(page.locator("#run-actions")).to_contain_text("About Beavers")

    page.goto(f"{base}/admin/workflows_app/workflowrun/")
    page.check("input[name=_selected_action]")
    page.select_option("select[name=action]", "cancel_selected")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Canceled 1 run.")
    page.screenshot(path=str(IMAGES / "admin-runs-list.png"), full_page=True)
    page.click("th.field-short_id a")
    expect(page.locator("#run-status")).to_have_text("canceled")
    expect(page.locator(".wf-node[data-path=review]")).to_have_class("wf-node wf-status-canceled")

    ((run_id,),) = cluster.query("SELECT run_id FROM workflows_app_workflowrun")
    assert cluster.status(run_id) == "canceled"
    for name in ("admin-run-page.png", "admin-time-travel.png", "admin-runs-list.png"):
        assert os.path.getsize(IMAGES / name) > 10_000


def _the_run_page_reads_as_an_operator_expects(page: Any, expect: Any) -> None:
    """Local times, a timeline, short generated ids, JSON, and one status only (never a stale one)."""
    body = page.inner_text("body")
    assert "(running)" not in body, "a stale status is shown next to the live one"
    assert re.search(r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d (just now|\d+ \w+ ago)", body)
    steps = " ".join(page.locator("tr.wf-step").all_inner_texts())
    assert not re.search(r"\b1\d{12}\b", steps), "epoch milliseconds in the steps table"
    expect(page.locator(".wf-timeline .wf-bar")).to_have_count(3)  # prepare, the sleep, review
    sleep_title = page.locator(".wf-node[data-path^=sleep_] .wf-node-title")
    expect(sleep_title).to_contain_text("…")
    expect(page.locator(".wf-step[data-path=prepare] .wf-json").first).to_contain_text('"title": "Otters"')
