// Keeps the admin's run page current (and its times local): each event of the run (over the WebSocket)
// reloads the page's live part from the server; the actions part is reloaded
// only when the run's status or its suspended steps change, so a resume form
// being filled in is not wiped by unrelated events. When the stream drops or is
// refused (logged out, no longer allowed) the page says so: it no longer changes.
(function () {
  "use strict";
  const page = document.getElementById("run-page");
  if (!page) return;
  let pending = null;

  // Times come from the server in its TIME_ZONE; show them in the browser's own
  // zone, and keep "3 minutes ago" true while the page stays open.
  const units = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];
  function ago(ms) {
    const delta = Date.now() - ms;
    const seconds = Math.floor(Math.abs(delta) / 1000);
    if (seconds < 2) return "just now";
    for (const [size, unit] of units) {
      if (seconds >= size) {
        const count = Math.floor(seconds / size);
        const text = count + " " + unit + (count === 1 ? "" : "s");
        return delta > 0 ? text + " ago" : "in " + text;
      }
    }
    return "just now";
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function localTimes() {
    document.querySelectorAll("time.wf-time[data-ms]").forEach((node) => {
      const ms = Number(node.dataset.ms);
      const d = new Date(ms);
      node.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
      node.title = d.toString();
      const relative = node.nextElementSibling;
      if (relative && relative.classList.contains("wf-ago")) relative.textContent = ago(ms);
    });
  }
  localTimes();
  window.setInterval(localTimes, 15000);
  if (!window.followRun) return;

  function swap(fresh, id, onlyIfChanged) {
    const current = document.getElementById(id);
    const next = fresh.getElementById(id);
    if (!current || !next) return;
    if (onlyIfChanged && current.dataset.suspended === next.dataset.suspended &&
        current.dataset.status === next.dataset.status) return;
    current.replaceWith(next);
  }

  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin" })
      .then((response) => response.text())
      .then((html) => {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        swap(fresh, "run-live", false);
        swap(fresh, "run-actions", true);
        localTimes();
      });
  }

  // Daphne drops a close's reason (django/daphne#374): the code says why.
  const refusals = { 4401: "not logged in any more", 4403: "this run may not be seen", 4404: "no such stream" };
  const note = document.getElementById("run-stream");
  function streamStatus(state, code, reason) {
    if (!note) return;
    note.dataset.state = state;
    note.hidden = state === "open";
    if (state === "closed") note.textContent = "Live updates interrupted: reconnecting…";
    if (state === "refused") {
      const why = reason || refusals[code] || "refused";
      note.textContent = "Live updates stopped (" + code + ": " + why + "). Reload the page to follow the run again.";
    }
  }

  window.followRun(page.dataset.runId, function () {
    if (pending === null) pending = window.setTimeout(refresh, 150);
  }, { onStatus: streamStatus });
})();
