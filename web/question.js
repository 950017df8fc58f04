// The page a widget suggestion links to: the question and its answers,
// fetched from the API and written as text (never as markup), accepted and
// council-verified answers first.
(function () {
  'use strict';

  function visitorId() {
    try {
      var id = localStorage.getItem('agora.visitor_id');
      if (!id && window.crypto && crypto.randomUUID) {
        id = crypto.randomUUID();
        localStorage.setItem('agora.visitor_id', id);
      }
      return id;
    } catch (e) {
      return null;
    }
  }

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  function answerItem(answer) {
    var li = document.createElement('li');
    var meta = document.createElement('p');
    meta.className = 'meta';
    var labels = [];
    if (answer.accepted) labels.push('Accepted answer');
    if (answer.verified) labels.push('Verified by the council');
    labels.push('by ' + answer.author.display_name);
    meta.textContent = labels.join(' · ');
    var body = document.createElement('div');
    body.className = 'post-body';
    body.textContent = answer.body;
    li.appendChild(meta);
    li.appendChild(body);
    return li;
  }

  function rank(answer) {
    return (answer.accepted ? 2 : 0) + (answer.verified ? 1 : 0);
  }

  function render(q) {
    document.title = q.title + ' — Agora';
    text('title', q.title);
    text('meta', q.category.name + ' · asked by ' + q.author.display_name);
    text('body', q.body);
    var answers = q.answers.slice().sort(function (a, b) { return rank(b) - rank(a) || b.score - a.score; });
    var list = document.getElementById('answers');
    answers.forEach(function (a) { list.appendChild(answerItem(a)); });
    var heading = document.getElementById('answers-heading');
    heading.textContent = answers.length ? answers.length + (answers.length === 1 ? ' answer' : ' answers') : 'No answers yet';
    heading.hidden = false;
  }

  function failed(status) {
    text('title', status === 404 ? 'This question does not exist or was removed.' : 'The question could not be loaded.');
  }

  function start() {
    var match = /^\/questions\/(\d+)$/.exec(location.pathname);
    var main = document.getElementById('question');
    if (!match) return failed(404);
    var headers = { Accept: 'application/json' };
    var visitor = visitorId();
    if (visitor) headers['X-Visitor-Id'] = visitor;
    fetch('/api/v1/questions/' + match[1], { headers: headers })
      .then(function (r) {
        if (!r.ok) throw r.status;
        return r.json();
      })
      .then(render, failed)
      .then(function () { main.setAttribute('aria-busy', 'false'); });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
