// Starts Swagger UI on /docs from the bundled copy: no script from anywhere else.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
