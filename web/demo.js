// The demo form submits to itself; after a submission, say so.
(function () {
  'use strict';
  function start() {
    if (new URLSearchParams(location.search).get('sent') !== '1') return;
    var sent = document.getElementById('sent');
    sent.hidden = false;
    sent.focus();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
