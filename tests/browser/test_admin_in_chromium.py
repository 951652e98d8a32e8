"""One end-to-end test in headless Chromium: the admin starts a run, watches it live, resumes it,
travels back in time from a step, and cancels the run from the runs list.

The server is daphne in its own process (the project's ASGI application, with
WebSockets), on a scratch database; on the PostgreSQL leg the run is evented,
over Redis, with a worker process. Chromium is Debian's (``chromium``), driven
by Playwright; the test command installs it where missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import ROOT, Cluster, free_port

# Three processes, a browser and a dozen pages on a shared, loaded machine: more than the default 120 s.
pytestmark = pytest.mark.timeout(420)

IMAGES = ROOT / "docs" / "images"  # the screenshots docs/admin.md shows, taken afresh by each run


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Cluster, str, Path]]:
    cluster = Cluster(tmp_path)
    gate = tmp_path / "gate"
    engine = "evented" if cluster.postgres else "default"
    env = {
        "WORKFLOWS_MODULES": "tests.browser.browser_workflows",
        "WORKFLOWS_ENGINE": engine,
        "BROWSER_GATE_FILE": str(gate),
        "DEBUG": "1",
        "DJANGO_SUPERUSER_PASSWORD": "browser-pw",
    }
    cluster.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.com", **env)
    if engine == "evented":
        cluster.start_worker(**env)
    port = free_port()
    log = (tmp_path / "daphne.log").open("w")
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
        cwd=ROOT,
        env=cluster.env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        cluster.wait_for(lambda: _listening(port))
        yield cluster, f"http://127.0.0.1:{port}", gate
    finally:
        daphne.terminate()
        daphne.wait(timeout=10)
        log.close()
        sys.stderr.write((tmp_path / "daphne.log").read_text()[-5000:])  # shown when the test fails
        cluster.close()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_start_watch_live_and_resume_a_run_in_the_admin(server: tuple[Cluster, str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    cluster, base, gate = server
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
        browser.close()

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
