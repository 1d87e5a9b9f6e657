// Souk's API docs: Swagger UI rendering the gateway's own /openapi.json. A file, not an
// inline script, so that the page's Content-Security-Policy allows scripts from 'self' only.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Never ask validator.swagger.io for a badge: the page makes no request outside the gateway.
    validatorUrl: null,
    // The URL's query cannot point the page at another document (the default, made explicit).
    queryConfigEnabled: false,
    displayOperationId: true,
    deepLinking: true,
    defaultModelsExpandDepth: 0
  });
});
