// Follow a workflow run's events over the app's WebSocket, reconnecting after a
// drop with the last seq seen, so no event is missed or shown twice.
//
//   const stream = followRun(runId, (event) => console.log(event.seq, event.type));
//   stream.close();
//
// No dependencies. The page must be served by the same host (session cookie).
(function (global) {
  "use strict";

  function socketUrl(path) {
    const scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + path;
  }

  // Close codes after which reconnecting cannot help: not logged in, not allowed, no such endpoint.
  const REFUSED = [4401, 4403, 4404];

  function follow(path, onMessage, options) {
    const settings = Object.assign({ after: 0, minDelay: 500, maxDelay: 15000, onStatus: null }, options);
    let last = settings.after;
    let delay = settings.minDelay;
    let socket = null;
    let closed = false;
    let timer = null;

    function status(value) {
      if (settings.onStatus) settings.onStatus(value);
    }

    function connect() {
      const query = path.indexOf("?") === -1 ? "?" : "&";
      socket = new global.WebSocket(socketUrl(path + (settings.seq ? query + "after=" + last : "")));
      socket.onopen = function () {
        delay = settings.minDelay;
        status("open");
      };
      socket.onmessage = function (message) {
        const data = JSON.parse(message.data);
        if (settings.seq) {
          if (data.seq <= last) return; // already shown before a reconnect
          last = data.seq;
        }
        onMessage(data);
      };
      socket.onclose = function (event) {
        if (REFUSED.indexOf(event.code) !== -1) {
          closed = true; // refused (the server accepts, then closes with a code and a reason)
          if (settings.onStatus) settings.onStatus("refused", event.code, event.reason);
          return;
        }
        status("closed");
        if (closed) return;
        timer = global.setTimeout(connect, delay);
        delay = Math.min(delay * 2, settings.maxDelay);
      };
    }

    connect();
    return {
      close: function () {
        closed = true;
        if (timer) global.clearTimeout(timer);
        if (socket) socket.close();
      },
      get lastSeq() {
        return last;
      },
    };
  }

  // A run's events, in order, from `options.after` (default 0: the whole log).
  global.followRun = function (runId, onEvent, options) {
    return follow("/ws/workflows/runs/" + encodeURIComponent(runId) + "/", onEvent,
      Object.assign({}, options, { seq: true }));
  };

  // Status changes of the runs the user may see, optionally of one workflow.
  global.followRuns = function (onRun, options) {
    const workflow = options && options.workflow;
    const path = "/ws/workflows/runs/" + (workflow ? "?workflow=" + encodeURIComponent(workflow) : "");
    return follow(path, onRun, Object.assign({}, options, { seq: false }));
  };
})(window);
