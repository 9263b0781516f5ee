// Renders /api/v1/openapi.json with the vendored Swagger UI (templates/api/docs.html).
document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,          // never call the public validator
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
});
