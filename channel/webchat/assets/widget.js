// Parley web chat widget. Add it to a page with one script tag:
//   <script src="https://PARLEY/webchat/widget.js" data-resource="RESOURCE_ID" async></script>
// Optional attributes: data-target (id of an element to render into;
// otherwise a floating panel), data-customer-identifier and
// data-customer-signature (hex HMAC-SHA256 of the identifier under the
// resource's signing secret). The protocol is described in docs/WEBCHAT.md.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var resource = script.getAttribute("data-resource");
  if (!resource) { console.error("parley: data-resource is required"); return; }
  var base = new URL(script.src, location.href);
  var wsURL = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/webchat/" + encodeURIComponent(resource) + "/socket";
  var identifier = script.getAttribute("data-customer-identifier") || "";
  var signature = script.getAttribute("data-customer-signature") || "";
  var key = "parley:" + resource + ":" + identifier + ":";
  var store = {
    get: function (k, d) { try { var v = localStorage.getItem(key + k); return v === null ? d : JSON.parse(v); } catch (e) { return d; } },
    set: function (k, v) { try { localStorage.setItem(key + k, JSON.stringify(v)); } catch (e) {} }
  };

  // State: the conversation, the last sequence number shown (a new page
  // shows nothing yet, so it asks for the whole conversation), and the
  // messages sent but not acknowledged (resent after a reconnect).
  var conversation = store.get("conversation", "");
  var lastSeq = 0;
  var pending = store.get("pending", []);

  // The view.
  var root = document.createElement("div");
  root.className = "parley-chat";
  root.innerHTML =
    '<div class="parley-head"><span>Chat</span><span class="parley-status" data-status="connecting">connecting</span></div>' +
    '<ol class="parley-transcript" aria-live="polite"></ol>' +
    '<form class="parley-form"><input class="parley-input" autocomplete="off" maxlength="4096" placeholder="Type a message" aria-label="Message"><button type="submit">Send</button></form>';
  var style = document.createElement("style");
  style.textContent =
    ".parley-chat{font:14px system-ui,sans-serif;background:#fff;border:1px solid #d5d9e0;border-radius:10px;display:flex;flex-direction:column;height:28rem;max-width:26rem;box-shadow:0 4px 16px rgba(0,0,0,.08)}" +
    ".parley-chat.parley-floating{position:fixed;right:1rem;bottom:1rem;width:22rem;z-index:2147483000}" +
    ".parley-head{display:flex;justify-content:space-between;padding:.6rem .8rem;border-bottom:1px solid #eceef2;font-weight:600}" +
    ".parley-status{font-weight:400;font-size:12px;color:#7a8294}.parley-status[data-status=online]{color:#1b7f3b}" +
    ".parley-transcript{list-style:none;margin:0;padding:.8rem;overflow-y:auto;flex:1;display:flex;flex-direction:column;gap:.4rem}" +
    ".parley-msg{max-width:80%;padding:.45rem .7rem;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}" +
    ".parley-msg[data-author=customer]{align-self:flex-end;background:#2f6fed;color:#fff}" +
    ".parley-msg[data-author=bot],.parley-msg[data-author=operator]{align-self:flex-start;background:#eef0f4}" +
    ".parley-msg.parley-pending{opacity:.6}" +
    ".parley-msg[data-error]{background:#fbe9e9;color:#7a1c1c}" +
    ".parley-msg[data-error]::after{content:attr(data-error-message);display:block;margin-top:.2rem;font-size:12px;opacity:.85}" +
    ".parley-divider{align-self:stretch;text-align:center;font-size:12px;color:#7a8294;border-top:1px solid #eceef2;padding-top:.3rem}" +
    ".parley-form{display:flex;gap:.4rem;padding:.6rem;border-top:1px solid #eceef2}" +
    ".parley-input{flex:1;padding:.45rem .6rem;border:1px solid #c9ced8;border-radius:8px;font:inherit}" +
    ".parley-form button{padding:.45rem .9rem;border:0;border-radius:8px;background:#2f6fed;color:#fff;font:inherit;cursor:pointer}";
  document.head.appendChild(style);
  var target = script.getAttribute("data-target") && document.getElementById(script.getAttribute("data-target"));
  if (target) { target.appendChild(root); } else { root.classList.add("parley-floating"); document.body.appendChild(root); }
  var list = root.querySelector(".parley-transcript");
  var status = root.querySelector(".parley-status");
  var input = root.querySelector(".parley-input");

  function setStatus(s) { status.textContent = s; status.setAttribute("data-status", s); }
  function scroll() { list.scrollTop = list.scrollHeight; }
  function pendingItem(clientId) { return list.querySelector('[data-client-id="' + clientId + '"].parley-pending'); }

  function showPending(m) {
    var li = document.createElement("li");
    li.className = "parley-msg parley-pending";
    li.setAttribute("data-author", "customer");
    li.setAttribute("data-client-id", m.clientId);
    li.textContent = m.text;
    list.appendChild(li);
    scroll();
  }

  function show(f) {
    if (f.conversation !== conversation) {
      // A new conversation (the last one was closed): numbering restarts.
      conversation = f.conversation; lastSeq = 0;
      store.set("conversation", conversation);
    }
    // Each message once, in order: anything at or below the last number
    // shown was shown already.
    if (f.seq <= lastSeq) { return; }
    if (f.seq === 1 && list.querySelector(".parley-msg[data-seq]")) {
      var divider = document.createElement("li");
      divider.className = "parley-divider";
      divider.textContent = "New conversation";
      list.insertBefore(divider, list.querySelector(".parley-pending"));
    }
    var li = f.clientId ? pendingItem(f.clientId) : null;
    if (!li) { li = document.createElement("li"); }
    li.className = "parley-msg";
    // Shown messages keep their sequence order, above those still being
    // sent (a reply missed while offline comes before them).
    list.insertBefore(li, list.querySelector(".parley-pending"));
    li.setAttribute("data-author", f.author);
    li.setAttribute("data-seq", String(f.seq));
    li.setAttribute("data-conversation", f.conversation);
    if (f.clientId) { li.setAttribute("data-client-id", f.clientId); }
    li.textContent = f.text;
    lastSeq = f.seq;
    scroll();
  }

  var ws = null, attempt = 0, timer = null;
  function connect() {
    setStatus("connecting");
    ws = new WebSocket(wsURL);
    ws.onopen = function () {
      ws.send(JSON.stringify({type: "hello", visitor: store.get("visitor", ""), conversation: conversation, after: lastSeq,
        identifier: identifier || undefined, signature: signature || undefined}));
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      switch (f.type) {
      case "welcome":
        attempt = 0;
        store.set("visitor", f.visitor);
        if (f.conversation !== conversation) { conversation = f.conversation || ""; lastSeq = 0; store.set("conversation", conversation); }
        setStatus("online");
        pending.forEach(function (m) { ws.send(JSON.stringify({type: "message", clientId: m.clientId, text: m.text})); });
        break;
      case "message": show(f); break;
      case "ack":
        pending = pending.filter(function (m) { return m.clientId !== f.clientId; });
        store.set("pending", pending);
        break;
      case "error":
        pending = pending.filter(function (m) { return m.clientId !== f.clientId; });
        store.set("pending", pending);
        var li = pendingItem(f.clientId);
        if (li) {
          li.classList.remove("parley-pending");
          li.setAttribute("data-error", f.code);
          // The visitor reads what they can do; the server's words (for
          // the site's operator) are in the tooltip.
          li.setAttribute("data-error-message", f.code === "invalid_argument" ? "Not sent: " + f.message : "Not sent: the chat is not available right now. Please try again later.");
          li.title = f.message;
          scroll();
        }
        break;
      case "ping": ws.send('{"type":"pong"}'); break;
      }
    };
    ws.onclose = function (ev) {
      setStatus("offline");
      ws = null;
      if (ev.code === 1008 && /signature/.test(ev.reason)) { setStatus("refused: " + ev.reason); return; }
      // Reconnect with jittered exponential backoff: 0.5 s .. 30 s.
      var ceiling = Math.min(30000, 500 * Math.pow(2, attempt++));
      timer = setTimeout(connect, ceiling / 2 + Math.random() * ceiling / 2);
    };
  }

  root.querySelector(".parley-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    var m = {clientId: (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()), text: text};
    pending.push(m);
    store.set("pending", pending);
    showPending(m);
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify({type: "message", clientId: m.clientId, text: m.text})); }
  });
  pending.forEach(showPending);
  // For tests and host pages: close the socket as a network drop would.
  window.parleyChat = { drop: function () { if (ws) { ws.close(); } }, state: function () { return {conversation: conversation, seq: lastSeq, pending: pending.length}; } };
  connect();
})();
