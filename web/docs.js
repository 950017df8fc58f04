// GET /docs: Swagger UI over the served openapi.yaml. Its files come from
// this origin (web/vendor/swagger-ui); this script configures it and names
// the few controls it leaves unnamed, so the page passes WCAG 2.2 AA.
(function () {
  'use strict';
  var root = document.getElementById('swagger-ui');

  // Swagger UI renders parameter pickers and code samples without
  // accessible names or keyboard access; give them both as they appear.
  function label(node) {
    node.querySelectorAll('select:not([aria-label]), input:not([aria-label])').forEach(function (control) {
      var labelled = Array.prototype.some.call(control.labels || [], function (l) {
        // A label that only wraps the control names nothing.
        return l.textContent.replace(control.textContent, '').trim() !== '';
      });
      if (labelled) return;
      var row = control.closest('tr[data-param-name]');
      var name = row ? row.getAttribute('data-param-name') : control.id === 'servers' ? 'Server' : control.name;
      control.setAttribute('aria-label', name || 'Value');
    });
    node.querySelectorAll('pre:not([tabindex])').forEach(function (pre) {
      pre.setAttribute('tabindex', '0');
    });
  }

  var status = document.getElementById('docs-status');

  function done(message) {
    root.setAttribute('aria-busy', 'false');
    status.textContent = message;
  }

  if (typeof window.SwaggerUIBundle !== 'function') {
    done('The reference viewer did not load; the contract is at /openapi.yaml.');
    return;
  }
  new MutationObserver(function () {
    label(root);
  }).observe(root, { childList: true, subtree: true });

  window.SwaggerUIBundle({
    url: '/openapi.yaml',
    domNode: root,
    // Deep links put a link inside each operation's toggle button (a
    // nested control screen readers cannot reach); the colours of the
    // highlighter fall below AA contrast.
    deepLinking: false,
    syntaxHighlight: false,
    validatorUrl: null,
    defaultModelsExpandDepth: 0,
    docExpansion: 'list',
    onComplete: function () {
      label(root);
      done('');
    }
  });
})();
