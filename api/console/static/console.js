// Followthrough console: live updates (server-sent events, polling fallback), one polite
// announcer, deadline countdowns, keyboard shortcuts. No build step.
(function () {
  "use strict";
  var announcer = null;
  var lastAnnounce = null;
  var pollTimer = null;

  // Every page with live parts, or at least the navigation (its counts, the safety marker).
  function livePage() {
    return document.getElementById("live") || document.getElementById("nav");
  }

  // The page title starts with the open safety escalations, as the navigation counts them.
  var SAFETY_TITLE = /^\u26a0 \d+ safety \u00b7 /;
  function safetyTitle() {
    var nav = document.getElementById("nav");
    if (!nav) { return; }
    var n = parseInt(nav.getAttribute("data-safety") || "0", 10);
    var base = document.title.replace(SAFETY_TITLE, "");
    document.title = n > 0 ? "\u26a0 " + n + " safety \u00b7 " + base : base;
  }

  function refresh() {
    if (livePage()) {
      document.body.dispatchEvent(new CustomEvent("ft:refresh"));
    }
  }

  function startPolling() {
    if (pollTimer === null) { pollTimer = window.setInterval(refresh, 2000); }
  }

  function stopPolling() {
    if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    if (!livePage()) { return; }
    if (!("EventSource" in window)) { startPolling(); return; }
    var source = new EventSource("/console/events");
    // On (re)connecting, fetch once: a change between the page load and the stream is not lost.
    source.addEventListener("open", function () { stopPolling(); refresh(); });
    source.addEventListener("change", refresh);
    // While the stream is down (the browser retries it), poll so nothing goes stale.
    source.addEventListener("error", function () {
      startPolling();
      if (source.readyState === EventSource.CLOSED) { window.setTimeout(connect, 2000); }
    });
  }

  function announce() {
    var live = document.getElementById("live");
    if (!live || !announcer) { return; }
    var text = live.getAttribute("data-announce");
    if (lastAnnounce !== null && text && text !== lastAnnounce) {
      announcer.textContent = text;
    }
    lastAnnounce = text;
  }

  // What the user has chosen or typed in a live part survives its refresh: values that differ
  // from the page's defaults are put back into the new elements with the same id.
  var kept = {};

  function dirty(el) {
    if (el.tagName === "SELECT") {
      return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    if (el.type === "checkbox" || el.type === "radio") { return el.checked !== el.defaultChecked; }
    return el.type !== "hidden" && el.value !== el.defaultValue;
  }

  // So are a row's open attempt form and the keyboard focus: htmx puts the focus back on the
  // element with the same id; when that element is gone (its case left the list), the focus goes
  // to the row that took its place, never back to the top of the page.
  var keptOpen = [];
  var keptFocus = null;

  function keep(ev) {
    var live = document.getElementById("live");
    if (!live || ev.detail.target !== live) { return; }
    kept = {};
    live.querySelectorAll("input[id], select[id], textarea[id]").forEach(function (el) {
      if (dirty(el)) { kept[el.id] = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value; }
    });
    keptOpen = Array.prototype.map.call(live.querySelectorAll("details[id][open]"), function (d) { return d.id; });
    keptFocus = null;
    var active = document.activeElement;
    if (active && active !== document.body && live.contains(active)) {
      var row = active.closest("[data-row]");
      keptFocus = { id: active.id, row: row ? rows().indexOf(row.querySelector(".row-link")) : -1 };
    }
  }

  function restore() {
    Object.keys(kept).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) { return; }
      if (el.type === "checkbox" || el.type === "radio") { el.checked = kept[id]; } else { el.value = kept[id]; }
    });
    kept = {};
    keptOpen.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) { d.open = true; }
    });
    keptOpen = [];
    var was = keptFocus;
    keptFocus = null;
    if (!was) { return; }
    var same = was.id ? document.getElementById(was.id) : null;
    if (same) {
      if (document.activeElement !== same) { same.focus({ preventScroll: true }); }
      return;
    }
    var list = rows();
    if (was.row >= 0 && list.length) { list[Math.min(was.row, list.length - 1)].focus({ preventScroll: true }); }
  }

  // A row's attempt form that ``restore`` opened again after a live refresh: the new row's
  // warning loads when the form opens (``toggle``), but htmx wires it only when the row is loaded,
  // after that ``toggle`` has passed; ask for it then (``once`` keeps it to one request).
  function reload(ev) {
    var elt = ev.detail.elt;
    if (!elt.querySelectorAll) { return; }
    elt.querySelectorAll("details[data-quick][open]").forEach(function (d) { htmx.trigger(d, "toggle"); });
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      if (!el.dataset.label) { el.dataset.label = el.textContent; }
      var due = Date.parse(el.getAttribute("datetime"));
      var s = Math.round((due - now) / 1000);
      var late = s < 0;
      s = Math.abs(s);
      var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
      // Past a day, days and hours (as api.console.labels.duration writes them).
      var left = d > 0 ? d + (d === 1 ? " day" : " days") + (h > 0 ? " " + h + " h" : "")
        : (h > 0 ? h + " h " : "") + pad(m) + " min";
      el.textContent = el.dataset.label + " · " + (late ? left + " late" : "in " + left);
    });
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-row] .row-link"));
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function move(step) {
    var list = rows();
    if (!list.length) { return; }
    var at = list.indexOf(document.activeElement);
    if (at < 0) {
      var row = document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-row]");
      at = row ? list.indexOf(row.querySelector(".row-link")) : -1;
    }
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, at + step));
    list[next].focus();
    list[next].scrollIntoView({ block: "nearest" });
  }

  function scope() {
    var row = document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-row]");
    return row || document;
  }

  // The `a` shortcut's confirm step: focus on the Acknowledge button, its consequence shown beside
  // it (and read as the button's description); only Enter or a click on the button acknowledges.
  function arm(button) {
    document.querySelectorAll("[data-ack-hint]").forEach(function (hint) { hint.hidden = true; });
    var hint = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (hint) { hint.hidden = false; }
    button.focus();
    button.scrollIntoView({ block: "nearest" });
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) { return; }
    var key = ev.key;
    if (key === "j") { move(1); }
    else if (key === "k") { move(-1); }
    else if (key === "a") {
      // Never acts by itself: it moves to the Acknowledge button and says what Enter will do.
      var ack = scope().querySelector("[data-acknowledge]");
      if (!ack) { return; }
      arm(ack);
    } else if (key === "c") {
      // Opens the attempt form (of the row in focus, or this case's); only its button records.
      var quick = scope().querySelector("[data-quick]");
      if (quick) { quick.open = true; }
      var outcome = quick ? quick.querySelector("[data-quick-field]") : document.getElementById("outcome");
      if (!outcome) { return; }
      outcome.focus();
      outcome.scrollIntoView({ block: "nearest" });
    } else if (key === "r") {
      var field = scope().querySelector("[data-resolve-field]");
      if (!field) { return; }
      field.focus();
    } else if (key === "?") {
      var help = document.getElementById("shortcuts");
      if (!help) { return; }
      help.open = !help.open;
      if (help.open) { help.querySelector("summary").focus(); }
    } else { return; }
    ev.preventDefault();
  }

  // A form refused and shown again: the address bar goes back to the page's own address (never
  // the POST endpoint), and the focus to the first field in error.
  function settleRefusal() {
    var here = document.querySelector("meta[name=ft-page-url]");
    if (here && window.history.replaceState) { window.history.replaceState(null, "", here.content); }
    var wrong = document.querySelector("[aria-invalid=true]");
    if (wrong) { wrong.focus(); return true; }
    return false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    announcer = document.getElementById("announcer");
    var live = document.getElementById("live");
    lastAnnounce = live ? live.getAttribute("data-announce") : null;
    var first = document.querySelector("[data-autofocus]");
    if (!settleRefusal() && first) { first.focus(); }
    countdowns();
    window.setInterval(countdowns, 1000);
    document.addEventListener("keydown", onKey);
    document.body.addEventListener("htmx:beforeSwap", keep);
    document.body.addEventListener("htmx:afterSwap", restore);
    document.body.addEventListener("htmx:load", reload);
    document.body.addEventListener("htmx:afterSettle", function () { countdowns(); announce(); safetyTitle(); });
    connect();
  });
})();
