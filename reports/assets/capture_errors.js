// Runs first in every report: records script errors, failed resource loads and blocked
// requests as attributes on <html>, so a headless browser's DOM dump shows them.
(function () {
  var root = document.documentElement;
  var messages = [];
  function record(message) {
    messages.push(String(message).slice(0, 300));
    root.setAttribute('data-js-errors', String(messages.length));
    root.setAttribute('data-js-error-messages', messages.join(' | '));
  }
  root.setAttribute('data-js-errors', '0');
  window.addEventListener('error', function (e) {
    if (e.target && e.target !== window && e.target.tagName) {
      record('resource failed: ' + e.target.tagName);
    } else {
      record(e.message || 'error');
    }
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    record('unhandled rejection: ' + e.reason);
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    record('blocked by content policy: ' + e.blockedURI);
  });
  var originalError = console.error;
  console.error = function () {
    record(Array.prototype.join.call(arguments, ' '));
    return originalError.apply(console, arguments);
  };
})();
