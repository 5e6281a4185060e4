// Draws the process diagram of /console/definitions/{product} with the bundled Mermaid.
// A file, not an inline script, so a Content-Security-Policy of script-src 'self' allows it.
// The outcome is left on the element (data-diagram="rendered" or "error") for people and tests.
(function () {
  "use strict";
  var nodes = document.querySelectorAll("pre.mermaid");
  var problem = document.getElementById("diagram-error");
  function failed(err) {
    nodes.forEach(function (n) { n.setAttribute("data-diagram", "error"); });
    if (problem) {
      problem.textContent = "The diagram could not be drawn: " + String((err && err.message) || err);
      problem.hidden = false;
    }
  }
  if (!nodes.length) return;
  if (!window.mermaid) { failed("Mermaid did not load"); return; }
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
  window.mermaid.run({ nodes: nodes, suppressErrors: false }).then(function () {
    nodes.forEach(function (n) { n.setAttribute("data-diagram", "rendered"); });
  }, failed);
})();
