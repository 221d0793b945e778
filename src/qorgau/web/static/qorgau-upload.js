/* Refuse a file that is too large or of a type the form does not take before it is sent,
   so nobody on a slow connection waits minutes for an upload the server would refuse.
   The server enforces the same limits; this only saves the wait. */
(function () {
  "use strict";
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    var form = input.form;
    var max = parseInt(input.getAttribute("data-max-bytes"), 10);
    var total = parseInt(input.getAttribute("data-max-total") || "0", 10);
    var accept = (input.getAttribute("accept") || "").split(",").map(function (s) { return s.trim(); })
      .filter(Boolean);
    var out = document.getElementById(input.getAttribute("data-error-id"));
    function allowed(file) {
      if (!accept.length) { return true; }
      var name = file.name.toLowerCase();
      return accept.some(function (a) {
        if (a.charAt(0) === ".") { return name.endsWith(a.toLowerCase()); }
        if (a.endsWith("/*")) { return (file.type || "").indexOf(a.slice(0, -1)) === 0; }
        return file.type === a;
      });
    }
    function check() {
      var problem = "";
      var sum = 0;
      Array.prototype.forEach.call(input.files, function (f) {
        sum += f.size;
        if (!problem && f.size > max) { problem = input.getAttribute("data-too-large").replace("{name}", f.name); }
        if (!problem && !allowed(f)) { problem = input.getAttribute("data-bad-type").replace("{name}", f.name); }
      });
      if (!problem && total && sum > total) { problem = input.getAttribute("data-too-much"); }
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
