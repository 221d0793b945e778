/* Refuse a file that is too large or of a type the form does not take before it is sent,
   so nobody on a slow connection waits minutes for an upload the server would refuse.
   The server enforces the same limits; this only saves the wait. The messages come from
   the page (data-* attributes), already in the reader's language. */
(function () {
  "use strict";
  function list(value) {
    return (value || "").split(",").map(function (s) { return s.trim().toLowerCase(); }).filter(Boolean);
  }
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    var form = input.form;
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var total = parseInt(input.getAttribute("data-max-total") || "0", 10);
    var count = parseInt(input.getAttribute("data-max-files") || "0", 10);
    var accept = list(input.getAttribute("accept"));
    var refuse = list(input.getAttribute("data-refuse"));
    var out = document.getElementById(input.getAttribute("data-error-id"));
    function say(attr, name) { return (input.getAttribute(attr) || "").replace("{name}", name); }
    function allowed(file) {
      var name = file.name.toLowerCase();
      var type = (file.type || "").toLowerCase();
      if (refuse.some(function (ext) { return name.endsWith(ext); })) { return false; }
      if (!accept.length) { return true; }
      return accept.some(function (a) {
        if (a.charAt(0) === ".") { return name.endsWith(a); }
        if (a.endsWith("/*")) { return type.indexOf(a.slice(0, -1)) === 0; }
        return type === a;
      });
    }
    function check() {
      var problem = "";
      var sum = 0;
      Array.prototype.forEach.call(input.files, function (f) {
        sum += f.size;
        if (!problem && f.size > max) { problem = say("data-too-large", f.name); }
        if (!problem && !allowed(f)) { problem = say("data-bad-type", f.name); }
      });
      if (!problem && count && input.files.length > count) { problem = say("data-too-many", ""); }
      if (!problem && total && sum > total) { problem = say("data-too-much", ""); }
      input.setCustomValidity(problem);
      if (out) { out.textContent = problem; out.hidden = !problem; }
      if (problem) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      return !problem;
    }
    input.addEventListener("change", check);
    if (form) {
      form.addEventListener("submit", function (e) { if (!check()) { e.preventDefault(); input.focus(); } });
    }
  });
})();
