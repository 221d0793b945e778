/* Qorgau desk: keyboard shortcuts and the CSRF header for htmx requests.
   Everything here is an extra: every page works without it. No eval, no inline handlers,
   so the pages keep a Content-Security-Policy of script-src 'self'. */
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf");
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (csrf) { e.detail.headers["X-CSRF-Token"] = csrf; }
  });

  function typing(t) {
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-case-row]")); }
  function selectRow(delta) {
    var all = rows();
    if (!all.length) { return; }
    var current = all.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = Math.max(0, Math.min(all.length - 1, current < 0 ? 0 : current + delta));
    all.forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    all[next].classList.add("selected");
    all[next].setAttribute("aria-selected", "true");
    var link = all[next].querySelector("a");
    if (link) { link.focus(); }
  }
  function click(selector) {
    var el = document.querySelector(selector);
    if (el) { el.click(); return true; }
    return false;
  }
  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) { return; }
    var key = e.key;
    if (pendingG) {
      pendingG = false;
      if (key === "q") { window.location.href = "/desk"; e.preventDefault(); }
      return;
    }
    if (key === "?") {
      var help = document.getElementById("shortcuts");
      if (help && help.showModal) { help.showModal(); e.preventDefault(); }
    } else if (key === "/") {
      var search = document.querySelector("[data-shortcut-search]");
      if (search) { search.focus(); e.preventDefault(); }
    } else if (key === "j") { selectRow(1); e.preventDefault(); }
    else if (key === "k") { selectRow(-1); e.preventDefault(); }
    else if (key === "c") { if (click("[data-shortcut-claim]")) { e.preventDefault(); } }
    else if (key === "n") {
      var note = document.querySelector("[data-shortcut-note]");
      if (note) { note.focus(); e.preventDefault(); }
    } else if (key === "g") { pendingG = true; }
  });
})();
