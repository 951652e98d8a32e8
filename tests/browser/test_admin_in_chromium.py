"""One end-to-end test in headless Chromium: the admin starts a run, watches it live, resumes it.

The server is daphne in its own process (the project's ASGI application, with
WebSockets), on a scratch database; on the PostgreSQL leg the run is evented,
over Redis, with a worker process. Chromium is Debian's (``chromium``), driven
by Playwright; the test command installs it where missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import ROOT, Cluster, free_port

SCREENSHOT = ROOT / "test-artifacts" / "admin-run-page.png"  # kept after the run (git-ignored)


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
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        page.check("input[name=review-approved]")
        page.fill("input[name=review-reviewer]", "ann")
        page.click(".wf-resume-form input[type=submit]")
        expect(page.locator("#run-status")).to_have_text("success")
        browser.close()

    ((run_id,),) = cluster.query("SELECT run_id FROM workflows_app_workflowrun")
    assert cluster.status(run_id) == "success"
    assert cluster.result(run_id) == {"approved": True, "by": "ann"}
    assert os.path.getsize(SCREENSHOT) > 10_000
