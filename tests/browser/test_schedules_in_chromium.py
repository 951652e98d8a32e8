"""The schedules' admin in headless Chromium: the list with next fire times, pause and resume actions.

The server and the logged-in page are conftest.py's (daphne on a scratch database).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.cluster import ROOT, Cluster

SCREENSHOT = ROOT / "test-artifacts" / "admin-schedules.png"  # kept after the run (git-ignored)


def test_schedules_list_shows_next_fire_times_and_pauses(
    server: tuple[Cluster, str, Path], page: Any
) -> None:
    from playwright.sync_api import expect

    cluster, base, _ = server
    cluster.manage(
        "shell",
        "-c",
        "from workflows_app.schedules import create_schedule; "
        "create_schedule(name='weekly-digest', workflow_id='browser-publishing', cron='0 9 * * 1', "
        "timezone='Europe/Paris', input={'title': 'Weekly'})",
        WORKFLOWS_MODULES="tests.browser.browser_workflows",
    )
    page.goto(f"{base}/admin/workflows_app/workflowschedule/")

    row = page.locator("#result_list tbody tr", has_text="weekly-digest")
    expect(row.locator("td.field-next_fire_times time")).to_have_count(3)
    expect(row.locator("td.field-state")).to_have_text("active")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "pause_selected")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Paused 1 schedule(s).")
    row = page.locator("#result_list tbody tr", has_text="weekly-digest")
    expect(row.locator("td.field-state")).to_have_text("paused")
    expect(row.locator("td.field-next_fire_times")).to_have_text("-")

    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "resume_selected")
    page.click("button[name=index]")
    row = page.locator("#result_list tbody tr", has_text="weekly-digest")
    expect(row.locator("td.field-state")).to_have_text("active")

    assert cluster.query("SELECT paused FROM workflows_app_workflowschedule") in ([(0,)], [(False,)])
