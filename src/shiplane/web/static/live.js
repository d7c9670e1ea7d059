// Shiplane dashboard: local times, the lock form, long reasons, and live updates.
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

  // Long reasons: three lines, then a "show more" button (the whole text stays in the page).
  function clamps(root) {
    root.querySelectorAll(".clamp").forEach(function (el) {
      if (el.getAttribute("data-clamp-done") || el.textContent.length < 180) return;
      el.setAttribute("data-clamp-done", "1");
      el.classList.add("clamped");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link more-toggle";
      button.textContent = "show more";
      button.setAttribute("aria-expanded", "false");
      button.addEventListener("click", function () {
        var open = el.classList.toggle("clamped") === false;
        button.textContent = open ? "show less" : "show more";
        button.setAttribute("aria-expanded", String(open));
      });
      el.insertAdjacentElement("afterend", button);
    });
  }

  function lockForm() {
    var form = document.getElementById("lock-form");
    if (!form) return;
    // Presets are wall-clock times in the chosen environment's zone: the server reads the
    // form's times there (environments.timezone, named in #lock-zones), not in the browser's.
    function wallNow() {
      var env = form.elements.environment ? form.elements.environment.value : "";
      var tag = form.querySelector('[data-zone-of="' + env + '"]');
      var zone = (tag && tag.getAttribute("data-zone")) || "UTC";
      var parts = {};
      new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"
      }).formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
      // A Date whose UTC fields are the zone's wall-clock fields.
      return new Date(Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute));
    }
    form.querySelectorAll("[data-preset]").forEach(function (b) {
      b.addEventListener("click", function () {
        var now = wallNow();
        var d = new Date(now.getTime());
        var preset = b.getAttribute("data-preset");
        if (preset === "1h") d = new Date(d.getTime() + 3600e3);
        else if (preset === "eod") d.setUTCHours(18, 0, 0, 0);
        else if (preset === "monday") { d.setUTCDate(d.getUTCDate() + ((8 - d.getUTCDay()) % 7 || 7)); d.setUTCHours(9, 0, 0, 0); }
        if (preset === "eod" && d <= now) d.setUTCHours(23, 59, 0, 0);
        var pad = function (n) { return String(n).padStart(2, "0"); };
        form.elements.expires_at.value = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
          "T" + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
      });
    });
  }

  // What a refresh must keep: the element that has focus, found again by what it is.
  function focusKey(el, root) {
    if (!el || el === document.body || !root.contains(el)) return null;
    return [el.tagName, el.getAttribute("href") || "", el.getAttribute("name") || "", el.id || "", el.textContent.trim()].join("|");
  }

  function refocus(key, root) {
    if (!key) return;
    var all = root.querySelectorAll("a, button, input, select, textarea, summary, [tabindex]");
    for (var i = 0; i < all.length; i++) {
      if (focusKey(all[i], root) === key) { all[i].focus({ preventScroll: true }); return; }
    }
  }

  // The states a page shows (lanes, rows, locks), so that only changes are announced.
  function states(root) {
    var out = {};
    root.querySelectorAll("[data-environment][data-state]").forEach(function (el) {
      out["env:" + el.getAttribute("data-environment")] = el.getAttribute("data-state");
      el.querySelectorAll("[data-service][data-gate]").forEach(function (row) {
        out["row:" + el.getAttribute("data-environment") + ":" + row.getAttribute("data-service")] = row.getAttribute("data-gate");
      });
    });
    root.querySelectorAll("[data-announce]").forEach(function (el) { out["x:" + el.getAttribute("data-announce")] = el.textContent.trim(); });
    return out;
  }

  function changes(before, after) {
    var said = [];
    Object.keys(after).forEach(function (k) {
      if (before[k] === after[k]) return;
      var parts = k.split(":");
      if (parts[0] === "env") said.push(parts[1] + " is now " + after[k]);
      else if (parts[0] === "row") said.push(parts[2] + " in " + parts[1] + " is now " + after[k]);
      else if (before[k] !== undefined) said.push(after[k]);
    });
    return said.slice(0, 5).join(". ");
  }

  function live() {
    var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
    if (!regions.length || !window.EventSource) return;
    var status = document.getElementById("live-status");
    var announcer = document.getElementById("announce");
    var timer = null;
    function swap(region, html) {
      var active = document.activeElement;
      if (active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
        // Someone is typing here (a verdict note): refresh once they leave the field, not under their hands.
        active.addEventListener("blur", soon, { once: true });
        return;
      }
      var key = focusKey(active, region);
      var before = states(region);
      var url = region.getAttribute("data-live");
      if (url) {
        region.innerHTML = html;
      } else {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
        if (!fresh) return;
        region.innerHTML = fresh.innerHTML;
      }
      localTimes(region);
      clamps(region);
      refocus(key, region);
      var said = changes(before, states(region));
      if (said && announcer) announcer.textContent = said;
      region.setAttribute("data-refreshed", String(Date.now()));
    }
    function refresh() {
      timer = null;
      regions.forEach(function (region) {
        var url = region.getAttribute("data-live") || window.location.href;
        fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
          .then(function (html) { swap(region, html); })
          .catch(function () { /* the next event or the minute tick tries again */ });
      });
    }
    function soon() { if (!timer) timer = setTimeout(refresh, 150); }
    var source = new EventSource("/live");
    source.addEventListener("changed", soon);
    source.addEventListener("open", function () {
      if (status) status.hidden = true;
      regions.forEach(function (r) { r.setAttribute("data-live-ready", "1"); });
    });
    source.addEventListener("error", function () { if (status) status.hidden = false; });
    setInterval(soon, 60000);  // ages ("5 min ago") move even when nothing happens
  }

  // Server-drawn charts label their time axis in the viewer's zone: tell the server which it is.
  function zoneCookie() {
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && document.cookie.indexOf("tz=" + zone) === -1) {
        document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
      }
    } catch (e) { /* no Intl: charts stay in UTC, and say so */ }
  }

  // The services matrix: narrow the rows as you type (the form's ?q= does the same without script).
  function filterRows() {
    document.querySelectorAll("[data-filter-rows]").forEach(function (input) {
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        document.querySelectorAll(input.getAttribute("data-filter-rows")).forEach(function (row) {
          row.hidden = q !== "" && (row.getAttribute("data-search") || "").indexOf(q) === -1;
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    zoneCookie();
    filterRows();
    localTimes(document);
    clamps(document);
    lockForm();
    live();
  });
})();
