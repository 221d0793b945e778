// Qorgau's interactive charts: each <script type="application/json" class="vega-lite-spec">
// becomes a chart with tooltips in the element named by its data-target, replacing the
// server-drawn picture there. Expressions run through vega-interpreter, so the page's
// Content-Security-Policy needs no 'unsafe-eval'. Without JavaScript the picture and the
// table stay as they are.
import embed from "vega-embed";
import { expressionInterpreter } from "vega-interpreter";

function start() {
  for (const node of document.querySelectorAll("script.vega-lite-spec")) {
    const target = document.getElementById(node.dataset.target || "");
    if (!target) continue;
    let spec;
    try {
      spec = JSON.parse(node.textContent || "{}");
    } catch (e) {
      continue;
    }
    embed(target, spec, {
      ast: true,
      expr: expressionInterpreter,
      actions: false,
      renderer: "svg",
      tooltip: { theme: "light" },
    }).then(() => target.classList.add("interactive")).catch(() => {});
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
