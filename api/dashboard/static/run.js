// The run page, live: follows /realtime/v1/runs/{id} with the page's public access token (this run only) and
// updates status, progress bar, timeline, details, metadata, output and error from each `run` event; logs are
// re-fetched (htmx) when the status changes. No reload. The stream ends once the run is finished.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root) return;
  var runId = root.dataset.runId;
  var knownStages = JSON.parse(root.dataset.stages || "[]");
  var FINAL = ["COMPLETED", "FAILED", "CANCELED", "TIMED_OUT", "CRASHED", "EXPIRED"];
  var lastStatus = document.getElementById("run-status").textContent.trim();
  var seenStages = [];

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value == null ? "" : String(value);
  }
  function pretty(value) {
    return value == null ? "" : JSON.stringify(value, Object.keys(flatKeys(value)).sort(), 2);
  }
  function flatKeys(value, keys) {
    keys = keys || {};
    if (value && typeof value === "object") {
      Object.keys(value).forEach(function (k) { keys[k] = true; flatKeys(value[k], keys); });
    }
    return keys;
  }
  function progressOf(meta) {
    var p = meta && meta.progress;
    if (typeof p !== "number" || !isFinite(p)) return null;
    if (p > 1) p = p / 100;
    return Math.max(0, Math.min(1, p));
  }
  function timelineOf(run) {
    var meta = run.metadata || {};
    var finished = FINAL.indexOf(run.status) >= 0;
    if (Array.isArray(meta.states) && meta.states.length) {
      return meta.states.filter(function (s) { return s && typeof s === "object"; }).map(function (s) {
        return { name: String(s.name || "?"), state: s.finished_at || finished ? "done" : "current", summary: s.summary || "" };
      });
    }
    var current = typeof meta.stage === "string" ? meta.stage : (typeof meta.state === "string" ? meta.state : null);
    if (!current) return null;
    if (knownStages.indexOf(current) >= 0) {
      var at = knownStages.indexOf(current);
      return knownStages.map(function (name, i) {
        var state = i < at || (i === at && (finished || name === "done")) ? "done" : (i === at ? "current" : "pending");
        return { name: name, state: state, summary: "" };
      });
    }
    if (seenStages.indexOf(current) < 0) seenStages.push(current);
    return seenStages.map(function (name) {
      return { name: name, state: name === current && !finished ? "current" : "done", summary: "" };
    });
  }
  function renderTimeline(items) {
    if (!items) return;
    var list = document.getElementById("timeline");
    list.replaceChildren.apply(list, items.map(function (item) {
      var li = document.createElement("li");
      li.className = "step " + item.state;
      li.dataset.name = item.name;
      var dot = document.createElement("span"); dot.className = "dot";
      var name = document.createElement("span"); name.className = "name"; name.textContent = item.name;
      li.append(dot, name);
      if (item.summary) {
        var summary = document.createElement("span"); summary.className = "summary"; summary.textContent = String(item.summary);
        li.append(summary);
      }
      return li;
    }));
  }
  function render(run) {
    var status = document.getElementById("run-status");
    status.textContent = run.status;
    status.className = "status s-" + run.status;
    var p = progressOf(run.metadata);
    var bar = document.getElementById("progress");
    if (p !== null) {
      bar.value = p;
      bar.classList.remove("unknown");
      text("progress-text", Math.round(p * 100) + " %");
    } else if (run.status === "COMPLETED") {
      bar.value = 1;
    }
    renderTimeline(timelineOf(run));
    text("started-at", run.startedAt);
    text("finished-at", run.finishedAt);
    text("attempts", run.attempts);
    if (run.startedAt) {
      var seconds = Math.max(0, ((run.finishedAt ? Date.parse(run.finishedAt) : Date.now()) - Date.parse(run.startedAt)) / 1000);
      text("duration", seconds < 120 ? seconds.toFixed(1) + " s" : (seconds / 60).toFixed(1) + " min");
    }
    text("metadata", pretty(run.metadata || {}));
    text("output", run.output == null ? "" : pretty(run.output));
    var error = document.getElementById("error");
    if (run.error) {
      error.textContent = run.error.type + ": " + run.error.message;
      error.classList.remove("hidden");
    }
    var final = FINAL.indexOf(run.status) >= 0;
    document.getElementById("cancel").disabled = final;
    if (run.status !== lastStatus) {
      lastStatus = run.status;
      document.body.dispatchEvent(new Event("refresh-logs"));
    }
    return final;
  }

  if (root.dataset.final === "true" || !window.EventSource) return;
  var live = document.getElementById("live");
  var token = root.dataset.token;
  var retries = 0;
  var source = null;

  // The token lasts 15 minutes: when the stream is refused (or drops for good), get a fresh one and reconnect;
  // the first event of a new stream is the run as it is, so nothing is missed.
  function connect() {
    var url = "/realtime/v1/runs/" + encodeURIComponent(runId) + "?token=" + encodeURIComponent(token);
    source = new EventSource(url);
    source.addEventListener("open", function () { retries = 0; live.textContent = "live"; live.className = "live on"; });
    source.addEventListener("run", function (event) {
      var run;
      try { run = JSON.parse(event.data); } catch (e) { return; }
      if (render(run)) {
        live.textContent = "finished";
        live.className = "live";
        source.close();
        source = null;
      }
    });
    source.addEventListener("error", function () {
      if (!source || source.readyState !== EventSource.CLOSED) { live.textContent = "reconnecting…"; return; }
      source = null;
      if (++retries > 5) { live.textContent = "disconnected"; live.className = "live off"; return; }
      live.textContent = "reconnecting…";
      setTimeout(function () {
        fetch("/runs/" + encodeURIComponent(runId) + "/token", { credentials: "same-origin" })
          .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
          .then(function (body) { token = body.token; connect(); })
          .catch(function () { live.textContent = "disconnected"; live.className = "live off"; });
      }, 500 * retries);
    });
  }
  connect();
})();
