/*
 * Agora contact-form widget. A council adds it to its own contact form:
 *
 *   <link rel="stylesheet" href="https://agora.example/widget.css">
 *   <script src="https://agora.example/widget.js" data-agora-textarea="#message"
 *           data-agora-form="#contact" defer></script>
 *
 * As the resident types it asks Agora for similar questions, shows them, and
 * reports the contact-intent events of the deflection contract. No
 * dependencies, no eval, no inline script or style, no cookies; it talks to
 * the origin it was loaded from only. Whatever happens to Agora, the
 * council's form keeps working: every failure here is swallowed.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  if (!script || !window.fetch || !window.URL) return;

  var data = script.dataset;
  var base = (data.agoraBase || new URL(script.src, location.href).origin).replace(/\/+$/, '');
  var texts = {
    heading: data.agoraHeading || 'Has this been asked?',
    intro: data.agoraIntro || 'These answers may help before you send your message.',
    resolved: data.agoraResolved || 'This answered my question',
    thanks: data.agoraThanks || 'Thank you. You do not need to send this form.',
    found: data.agoraFound || '{n} similar questions found',
    newTab: data.agoraNewTab || '(opens in a new tab)',
    solved: data.agoraSolved || 'Answered'
  };
  var minChars = number(data.agoraMinChars, 12);
  var delay = number(data.agoraDelay, 350);
  var linkTemplate = data.agoraLink || base + '/questions/{id}';
  var MAX_TEXT = 5000;
  var FLUSH_MS = 2000;
  // Timed flushes that wait for the intent's token: up to ten seconds.
  var TOKEN_WAITS = 5;

  function number(value, fallback) {
    var n = parseInt(value, 10);
    return isNaN(n) || n < 0 ? fallback : n;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  // The visitor id lives in localStorage (no cookies); where storage is
  // blocked the page keeps one for its own lifetime.
  function visitorId() {
    try {
      var id = localStorage.getItem('agora.visitor_id');
      if (!id) {
        id = uuid();
        localStorage.setItem('agora.visitor_id', id);
      }
      return id;
    } catch (e) {
      return uuid();
    }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    // Titles come from residents: text only, never markup.
    if (text != null) node.textContent = text;
    return node;
  }

  function start() {
    var textarea = document.querySelector(data.agoraTextarea || 'textarea');
    if (!textarea) return;
    var form = data.agoraForm ? document.querySelector(data.agoraForm) : textarea.form;
    new Widget(textarea, form);
  }

  function Widget(textarea, form) {
    this.textarea = textarea;
    this.visitor = visitorId();
    this.intent = null;
    this.token = null;
    this.waits = 0;
    this.queue = [];
    this.seq = 0;
    this.timer = null;
    this.flushTimer = null;
    this.shown = '';
    this.clicked = null;
    this.done = false;
    this.build();
    var self = this;
    textarea.addEventListener('input', function () { self.typed(); });
    if (form) form.addEventListener('submit', function () { self.submitted(); });
    window.addEventListener('pagehide', function () { self.flush(); });
  }

  Widget.prototype.build = function () {
    var id = 'agora-' + uuid().slice(0, 8);
    var box = el('section', 'agora-widget');
    box.setAttribute('aria-labelledby', id);
    box.hidden = true;
    var heading = el('h2', 'agora-widget__heading', texts.heading);
    heading.id = id;
    this.list = el('ul', 'agora-widget__list');
    this.button = el('button', 'agora-widget__resolved', texts.resolved);
    this.button.type = 'button';
    var self = this;
    this.button.addEventListener('click', function () { self.confirmed(); });
    box.appendChild(heading);
    box.appendChild(el('p', 'agora-widget__intro', texts.intro));
    box.appendChild(this.list);
    box.appendChild(this.button);
    // The live region exists from the start, so screen readers announce
    // what is later written into it.
    this.status = el('p', 'agora-widget__status');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    this.box = box;
    var after = this.textarea.nextSibling;
    this.textarea.parentNode.insertBefore(box, after);
    this.textarea.parentNode.insertBefore(this.status, after);
  };

  Widget.prototype.typed = function () {
    if (this.done) return;
    var text = this.textarea.value.trim();
    if (text && !this.intent) {
      this.intent = uuid();
      this.record('contact_intent_started', {});
    }
    clearTimeout(this.timer);
    var self = this;
    this.timer = setTimeout(function () { self.ask(text); }, delay);
  };

  Widget.prototype.ask = function (text) {
    var seq = ++this.seq;
    if (text.length < minChars) return this.show([], seq);
    var url = base + '/api/v1/questions/similar?limit=5&intent_id=' + encodeURIComponent(this.intent) +
      '&text=' + encodeURIComponent(text.slice(0, MAX_TEXT));
    var self = this;
    fetch(url, { headers: { Accept: 'application/json' }, credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) return;
        if (body.intent_token) self.token = body.intent_token;
        // The hold-out sees nothing: that is the experiment.
        self.show(body.arm === 'holdout' ? [] : body.items || [], seq);
      })
      .catch(function () {});
  };

  Widget.prototype.show = function (items, seq) {
    // A slow answer to an older draft must not replace a newer one.
    if (seq !== this.seq || this.done) return;
    var ids = items.map(function (q) { return q.question_id; }).join(',');
    if (ids === this.shown) return;
    this.shown = ids;
    this.list.textContent = '';
    var self = this;
    items.forEach(function (q, i) { self.list.appendChild(self.item(q, i + 1)); });
    this.box.hidden = !items.length;
    this.status.textContent = items.length ? texts.found.replace('{n}', items.length) : '';
    if (items.length) {
      this.record('contact_suggestions_shown', { result_ids: items.map(function (q) { return q.question_id; }) });
    }
  };

  Widget.prototype.item = function (q, rank) {
    var li = el('li', 'agora-widget__item');
    var a = el('a', 'agora-widget__link', q.title);
    a.href = linkTemplate.replace('{id}', encodeURIComponent(q.question_id));
    a.target = '_blank';
    a.rel = 'noopener';
    a.appendChild(el('span', 'agora-widget__hidden', ' ' + texts.newTab));
    var self = this;
    a.addEventListener('click', function () {
      self.clicked = q.question_id;
      self.record('contact_suggestion_clicked', { question_id: q.question_id, rank: rank });
    });
    li.appendChild(a);
    if (q.accepted || q.verified) li.appendChild(el('span', 'agora-widget__badge', texts.solved));
    return li;
  };

  Widget.prototype.confirmed = function () {
    var extra = this.clicked ? { question_id: this.clicked } : {};
    this.record('contact_intent_confirmed_resolved', extra);
    this.done = true;
    this.box.hidden = true;
    this.status.textContent = texts.thanks;
    this.status.className += ' agora-widget__status--done';
    // The button just vanished: keep keyboard users where the news is.
    this.status.tabIndex = -1;
    this.status.focus();
    this.flush();
  };

  Widget.prototype.submitted = function () {
    if (!this.intent) {
      this.intent = uuid();
      this.record('contact_intent_started', {});
    }
    this.record('contact_submitted', {});
    this.flush();
  };

  Widget.prototype.record = function (type, fields) {
    var event = {
      event_id: uuid(),
      type: type,
      occurred_at: new Date().toISOString(),
      visitor_id: this.visitor,
      intent_id: this.intent
    };
    if (data.agoraCategory) event.category = data.agoraCategory;
    if (data.agoraArea) event.area = data.agoraArea;
    for (var k in fields) event[k] = fields[k];
    this.queue.push(event);
    if (this.queue.length >= 100) return this.flush();
    var self = this;
    if (!this.flushTimer) this.flushTimer = setTimeout(function () { self.flush(true); }, FLUSH_MS);
  };

  // Sends the queued events in one batch. keepalive lets the request
  // outlive the page, so a submit's events arrive while the form navigates.
  // A timed flush waits (a few times) for the server's token for the
  // intent, without which its events do not count; a submit or the page
  // going away sends what there is.
  Widget.prototype.flush = function (timed) {
    clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.queue.length) return;
    var self = this;
    if (timed && this.intent && !this.token && this.waits < TOKEN_WAITS) {
      this.waits++;
      this.flushTimer = setTimeout(function () { self.flush(true); }, FLUSH_MS);
      return;
    }
    var token = this.token;
    var events = this.queue.splice(0, 100).map(function (e) {
      if (token && !e.intent_token && e.type.indexOf('contact_') === 0) e.intent_token = token;
      return e;
    });
    try {
      fetch(base + '/api/v1/events', {
        method: 'POST',
        keepalive: true,
        credentials: 'omit',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ events: events })
      }).catch(function () {});
    } catch (e) { /* the form matters more than the figures */ }
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
