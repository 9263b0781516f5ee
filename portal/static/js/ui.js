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
  // The status message after an HTMX action: HX-Trigger {"portal:status": "..."}.
  var toast = document.getElementById("status-toast");
  var timer = null;
  document.body.addEventListener("portal:status", function (event) {
    if (!toast) return;
    var detail = event.detail || {};
    toast.textContent = typeof detail.value === "string" ? detail.value : "";
    toast.classList.add("shown");
    clearTimeout(timer);
    timer = setTimeout(function () { toast.classList.remove("shown"); }, 6000);
  });
})();
