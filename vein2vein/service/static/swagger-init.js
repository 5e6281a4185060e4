// Starts Swagger UI on /docs: a file, not an inline script, so the CSP can forbid inline script.
(function () {
  "use strict";
  var me = document.currentScript;
  window.ui = window.SwaggerUIBundle({
    url: me.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
