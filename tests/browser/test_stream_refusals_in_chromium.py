"""In headless Chromium: ``stream.js`` stops at a refusal (4401, 4403) after one try; the run page says so.

The server and the logged-in page are conftest.py's. An init script counts every
WebSocket a page opens. That a refused stream never tries again is measured
against a control, with no sleep: a stream whose sockets the init script sends
to a closed port (each drops, as a lost connection does, and is retried),
started once the refusal arrived and with the same delays, has tried again by
the time the test counts, so a refused stream that retried would have too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import PASSWORD
from tests.e2e.cluster import Cluster, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

COUNT_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.openedSockets = [];
  window.WebSocket = function (url, protocols) {
    window.openedSockets.push(String(url));
    const control = String(url).includes("/runs/control/");
    return new Native(control ? "ws://127.0.0.1:%d/" : url, protocols);
  };
  window.WebSocket.prototype = Native.prototype;
})();
"""

FOLLOW_UNTIL_IT_ENDS = """
([runId, delay]) => new Promise((resolve) => {
  window.followRun(runId, () => {}, {
    minDelay: delay,
    maxDelay: delay,
    onStatus: (state, code) => { if (state !== "open") resolve({state, code}); },
  });
})
"""

LOG_OUT = """
() => {
  const form = document.getElementById("logout-form");
  return fetch(form.action, {method: "POST", body: new FormData(form)}).then((answer) => answer.status);
}
"""

NO_RUN = {"state": "refused", "code": 4403}  # no reason: daphne drops it (django/daphne#374)
CLERK = "clerk"


def test_a_run_page_whose_session_ends_stops_following_and_says_why(
    server: tuple[Cluster, str, Path], page: Page
) -> None:
    from playwright.sync_api import expect

    _, base, _ = server
    page.add_init_script(COUNT_SOCKETS % free_port())
    run_id = _start_a_suspended_run(page, base)
    note = page.locator("#run-stream")
    expect(note).to_have_attribute("data-state", "open")
    expect(note).to_be_hidden()

    assert page.evaluate(LOG_OUT) == 200  # as the admin's "Log out" would in another tab

    expect(note).to_have_attribute("data-state", "refused")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Live updates stopped (4401: not logged in any more).")
    _let_a_retry_come(page, delay=500)  # stream.js's first delay, the run page's own
    assert _attempts(page, run_id) == 1


def test_a_stream_the_user_may_not_see_or_of_no_run_is_refused_at_once(
    server: tuple[Cluster, str, Path], page: Page
) -> None:
    cluster, base, _ = server
    page.add_init_script(COUNT_SOCKETS % free_port())
    run_id = _start_a_suspended_run(page, base)
    stream_js = page.locator('script[src*="stream.js"]').get_attribute("src")
    assert stream_js

    assert page.evaluate(FOLLOW_UNTIL_IT_ENDS, ["no-such-run", 50]) == NO_RUN  # a superuser, an unknown run
    _let_a_retry_come(page, delay=50)
    assert _attempts(page, "no-such-run") == 1

    clerk = _log_in_as_a_clerk(cluster, page, base)  # staff, but may not see the superuser's run
    clerk.add_init_script(COUNT_SOCKETS % free_port())
    clerk.goto(f"{base}/admin/")
    clerk.add_script_tag(url=f"{base}{stream_js}")
    assert clerk.evaluate(FOLLOW_UNTIL_IT_ENDS, [run_id, 50]) == NO_RUN
    _let_a_retry_come(clerk, delay=50)
    assert _attempts(clerk, run_id) == 1


def _start_a_suspended_run(page: Page, base: str) -> str:
    """Start a run that suspends and stays so; its run page is left open. Returns the run id."""
    from playwright.sync_api import expect

    page.goto(f"{base}/admin/workflows_app/workflowrun/workflows/")
    page.click("#workflow-browser-payment a.button")
    page.fill("input[name=title]", "o-7")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/change/$"))
    expect(page.locator("#run-status")).to_have_text("suspended")
    run_id = page.locator("#run-page").get_attribute("data-run-id")
    assert run_id
    return run_id


def _let_a_retry_come(page: Page, *, delay: int) -> None:
    """Return once a control stream, its sockets dropped at once, has tried again after ``delay`` ms.

    Timers fire in the order they fall due: a retry a refused stream scheduled
    before the control started would have been made before the control's.
    """
    options = "{minDelay: delay, maxDelay: delay}"
    page.evaluate(
        f"(delay) => {{ window.control = window.followRun('control', () => {{}}, {options}); }}", delay
    )
    page.wait_for_function(
        "() => window.openedSockets.filter((url) => url.includes('/runs/control/')).length >= 2"
    )
    page.evaluate("() => window.control.close()")


def _attempts(page: Page, run_id: str) -> int:
    """How many sockets the page opened to follow ``run_id``."""
    count: Any = page.evaluate(
        "(part) => window.openedSockets.filter((url) => url.includes(part)).length", f"/runs/{run_id}/"
    )
    return int(count)


def _log_in_as_a_clerk(cluster: Cluster, page: Page, base: str) -> Page:
    """A page of a new browser context, logged in to the admin as a staff user with no permission."""
    create = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({CLERK!r}, password={PASSWORD!r}, is_staff=True)"
    )
    cluster.manage("shell", "-c", create, WORKFLOWS_MODULES="tests.browser.browser_workflows")
    browser = page.context.browser
    assert browser
    clerk = browser.new_context().new_page()
    clerk.goto(f"{base}/admin/login/")
    clerk.fill("#id_username", CLERK)
    clerk.fill("#id_password", PASSWORD)
    clerk.click("input[type=submit]")
    clerk.wait_for_url(f"{base}/admin/")
    return clerk
