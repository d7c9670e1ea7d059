// Shiplane dashboard: local times, the lock form's time zone, and live lanes.
// No framework, no build step: server-rendered HTML does the work.
(function () {
  "use strict";

  function localTimes(root) {
    var fmt = new Intl.DateTimeFormat(undefined, {
      weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) {
        el.title = el.textContent;  // the UTC text stays available on hover
        el.textContent = fmt.format(d);
      }
    });
  }

  function lockForm() {
    var form = document.getElementById("lock-form");
    if (!form) return;
    form.addEventListener("submit", function () {
      // The offset of the chosen moment, not of today: DST may differ.
      var value = form.elements.expires_at.value;
      var when = value ? new Date(value) : new Date();
      form.querySelector("[data-tz-offset]").value = String(when.getTimezoneOffset());
    });
  }

  function liveLanes() {
    var lanes = document.getElementById("lanes");
    if (!lanes || !window.EventSource) return;
    var url = lanes.getAttribute("data-live");
    var status = document.getElementById("live-status");
    var timer = null;
    function refresh() {
      timer = null;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) { lanes.innerHTML = html; localTimes(lanes); lanes.setAttribute("data-refreshed", String(Date.now())); })
        .catch(function () { /* the next event or the minute tick tries again */ });
    }
    function soon() { if (!timer) timer = setTimeout(refresh, 150); }
    var source = new EventSource("/live");
    source.addEventListener("changed", soon);
    source.addEventListener("open", function () { status.hidden = true; lanes.setAttribute("data-live-ready", "1"); });
    source.addEventListener("error", function () { status.hidden = false; });
    setInterval(soon, 60000);  // ages ("5 min ago") move even when nothing happens
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    lockForm();
    liveLanes();
  });
})();
