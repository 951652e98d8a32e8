// Keeps the admin's run page current: each event of the run (over the WebSocket)
// reloads the page's live part from the server; the actions part is reloaded
// only when the run's status or its suspended steps change, so a resume form
// being filled in is not wiped by unrelated events.
(function () {
  "use strict";
  const page = document.getElementById("run-page");
  if (!page || !window.followRun) return;
  let pending = null;

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
      });
  }

  window.followRun(page.dataset.runId, function () {
    if (pending === null) pending = window.setTimeout(refresh, 150);
  });
})();
