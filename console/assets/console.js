// Parley console: times in the viewer's time zone, the "/" shortcut, and
// live transcripts over Server-Sent Events. No framework, no build step.
(function () {
  "use strict";

  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  // localTime shows a <time datetime> in the viewer's zone; the UTC text
  // stays in its title (shown on hover).
  function localTime(el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) return;
    if (!el.title) el.title = el.textContent;
    el.textContent = format.format(d);
  }

  function timeElement(iso, utc) {
    var t = document.createElement("time");
    t.setAttribute("datetime", iso);
    t.title = utc;
    t.textContent = utc;
    localTime(t);
    return t;
  }

  // appendMessage adds a streamed message to the transcript, built with
  // text nodes only (a message is never parsed as HTML).
  function appendMessage(list, m) {
    if (document.getElementById("m" + m.seq)) return;
    var li = document.createElement("li");
    li.className = "msg fresh " + m.author;
    li.id = "m" + m.seq;
    li.setAttribute("data-seq", m.seq);
    var meta = document.createElement("div");
    meta.className = "meta";
    var author = document.createElement("span");
    author.className = "author";
    author.textContent = m.author;
    var seq = document.createElement("span");
    seq.className = "seq";
    seq.textContent = "#" + m.seq;
    meta.append(author, " ", seq, " ", timeElement(m.createdAt, m.utc));
    var text = document.createElement("div");
    text.className = "text";
    text.textContent = m.text;
    li.append(meta, text);
    var nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
    list.appendChild(li);
    if (nearBottom) li.scrollIntoView({ block: "nearest" });
  }

  function follow(list) {
    var state = document.querySelector("[data-live-state]");
    var empty = document.querySelector("[data-empty]");
    var source = new EventSource(list.getAttribute("data-live") + "?after=" + list.getAttribute("data-after"));
    source.addEventListener("message", function (e) {
      appendMessage(list, JSON.parse(e.data));
      if (empty) empty.hidden = true;
    });
    source.addEventListener("status", function () {
      source.close();
      if (state) state.textContent = "This conversation was closed. Reload the page to see its final state.";
    });
    source.onerror = function () {
      if (state) state.textContent = "Reconnecting to the live transcript…";
    };
    source.onopen = function () {
      if (state) state.textContent = "Live: new messages appear here without reloading.";
    };
  }

  function start() {
    document.querySelectorAll("time[datetime]").forEach(localTime);
    document.querySelectorAll("[data-tz]").forEach(function (el) { el.value = zone; });
    // An "as of" the server read shows in the viewer's zone too.
    document.querySelectorAll("input[data-utc]").forEach(function (el) {
      var d = new Date(el.getAttribute("data-utc"));
      if (isNaN(d)) return;
      var local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
      el.value = local.toISOString().slice(0, 19);
    });
    document.querySelectorAll("[data-tz-label]").forEach(function (el) { el.textContent = "(your time, " + zone + ")"; });
    var live = document.querySelector("[data-live]");
    if (live) follow(live);
    document.addEventListener("keydown", function (e) {
      var tag = (e.target.tagName || "").toLowerCase();
      if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey || tag === "input" || tag === "textarea" || tag === "select") return;
      var q = document.getElementById("q");
      e.preventDefault();
      if (q) q.focus(); else window.location.href = "/console/#q";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
