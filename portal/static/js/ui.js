/* Arcadia's one script besides htmx (a static file: the Content-Security-Policy allows no
   inline script). Without JavaScript the navigation links simply wrap. */
(function () {
  // The collapsing navigation on narrow screens.
  var button = document.getElementById("nav-toggle");
  var header = document.querySelector(".topbar");
  if (button && header) {
    header.classList.add("collapsible");
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") === "true";
      button.setAttribute("aria-expanded", open ? "false" : "true");
      header.classList.toggle("open", !open);
    });
  }
  // The status message after an HTMX action: HX-Trigger {"portal:status": "..."}, or
  // {"portal:status": {"value": "...", "tone": "bad"}} for an action that did not happen.
  var toast = document.getElementById("status-toast");
  var timer = null;
  function show(message, tone) {
    if (!toast || !message) return;
    toast.textContent = message;
    toast.classList.toggle("tone-bad", tone === "bad");
    toast.setAttribute("role", tone === "bad" ? "alert" : "status");
    toast.classList.add("shown");
    clearTimeout(timer);
    timer = setTimeout(function () { toast.classList.remove("shown"); }, tone === "bad" ? 10000 : 6000);
  }
  // It steps aside for the next thing the user does: a tap or click anywhere hides it (the
  // tap itself goes through to the control underneath: .toast has pointer-events: none).
  function hide() { if (toast) toast.classList.remove("shown"); clearTimeout(timer); }
  document.addEventListener("click", function () {
    if (toast && toast.classList.contains("shown")) hide();
  }, true);
  document.body.addEventListener("portal:status", function (event) {
    var detail = event.detail || {};
    show(typeof detail.value === "string" ? detail.value : "", detail.tone);
  });
  // A refusal htmx does not swap (403, 404, 409, 500...) still says something: the server's
  // message when it sent one (handled above), else the status in words.
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && (xhr.getResponseHeader("HX-Trigger") || "").indexOf("portal:status") !== -1) return;
    var code = xhr ? xhr.status : 0;
    var words = {401: "Your session has ended: sign in again.", 403: "You may not do that.",
                 404: "That is no longer there.", 409: "That conflicts with a change made meanwhile.",
                 429: "Too many tries: wait a minute and try again."}[code];
    show(words || "Something went wrong on our side (" + code + "); nothing was changed.", "bad");
  });
  document.body.addEventListener("htmx:sendError", function () {
    show("The portal could not be reached: check the connection and try again.", "bad");
  });
})();
