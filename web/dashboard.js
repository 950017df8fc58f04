// GET /dashboard: the deflection dashboard. Signs in with the API's own
// login, keeps the tokens in memory only (a reload signs out), refreshes the
// access token with the refresh token, and draws the figures of
// /api/v1/deflection/* with uPlot (web/vendor/uplot). Every text from the
// API is written with textContent, never as markup.
(function () {
  'use strict';

  var API = '/api/v1';
  var ALLOWED_ROLES = ['analyst', 'admin'];
  var $ = function (id) { return document.getElementById(id); };
  var numbers = new Intl.NumberFormat('en-GB');
  var decimals = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 1 });

  // The session: tokens in this closure, nowhere else.
  var session = null;
  var refreshing = null;
  var refreshTimer = null;
  var chart = null;
  var generation = 0;

  function problemText(body, fallback) {
    if (body && typeof body === 'object') return body.detail || body.title || fallback;
    return fallback;
  }

  async function readJson(response) {
    try { return await response.json(); } catch (e) { return null; }
  }

  function remember(tokens) {
    session = {
      access: tokens.access_token,
      refresh: tokens.refresh_token,
      user: tokens.user
    };
    clearTimeout(refreshTimer);
    // Refresh a minute before the access token expires.
    var seconds = Math.max(30, (tokens.expires_in || 900) - 60);
    refreshTimer = setTimeout(function () { refresh().catch(function () {}); }, seconds * 1000);
  }

  function forget() {
    session = null;
    clearTimeout(refreshTimer);
  }

  function refresh() {
    if (!session) return Promise.reject(new Error('signed out'));
    if (refreshing) return refreshing;
    var token = session.refresh;
    refreshing = fetch(API + '/auth/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ refresh_token: token })
    }).then(async function (response) {
      if (!response.ok) throw new Error('refresh refused');
      remember(await response.json());
    }).finally(function () { refreshing = null; });
    return refreshing;
  }

  // A GET with the access token; one refresh and retry on 401.
  async function authorised(path, accept) {
    var attempt = async function () {
      return fetch(path, { headers: { Authorization: 'Bearer ' + session.access, Accept: accept } });
    };
    var response = await attempt();
    if (response.status === 401 && session) {
      try {
        await refresh();
      } catch (e) {
        signedOut('Your session has ended. Please sign in again.');
        throw new Error('signed out');
      }
      response = await attempt();
    }
    if (!response.ok) {
      var body = await readJson(response);
      throw new Error(problemText(body, 'The server answered ' + response.status + '.'));
    }
    return response;
  }

  async function getJson(path) {
    return (await authorised(path, 'application/json')).json();
  }

  // ---- signing in and out ----

  async function signIn(event) {
    event.preventDefault();
    var error = $('sign-in-error');
    error.textContent = '';
    var login = $('login').value.trim();
    var password = $('password').value;
    if (!login || !password) {
      error.textContent = 'Enter your username (or email) and your password.';
      return;
    }
    var response;
    try {
      response = await fetch(API + '/auth/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ login: login, password: password })
      });
    } catch (e) {
      error.textContent = 'The server could not be reached. Check your connection and try again.';
      return;
    }
    var body = await readJson(response);
    if (response.status === 401) {
      error.textContent = 'That username or password is not right.';
      return;
    }
    if (response.status === 429) {
      var wait = response.headers.get('Retry-After');
      error.textContent = 'Too many attempts. Try again' + (wait ? ' in ' + wait + ' seconds.' : ' later.');
      return;
    }
    if (!response.ok) {
      error.textContent = problemText(body, 'Signing in failed (' + response.status + ').');
      return;
    }
    var roles = (body.user && body.user.roles) || [];
    if (!roles.some(function (r) { return ALLOWED_ROLES.indexOf(r) >= 0; })) {
      // End the login at once: this account has no use for it here.
      fetch(API + '/auth/logout', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + body.access_token },
        body: JSON.stringify({ refresh_token: body.refresh_token })
      }).catch(function () {});
      error.textContent = 'The account "' + body.user.username + '" cannot see the dashboard: it is for the ' +
        "council's analysts and admins. Ask an admin to give you the analyst role.";
      return;
    }
    $('password').value = '';
    remember(body);
    showBoard();
  }

  function signOut() {
    if (session) {
      fetch(API + '/auth/logout', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + session.access },
        body: JSON.stringify({ refresh_token: session.refresh })
      }).catch(function () {});
    }
    signedOut('You have signed out.');
  }

  function signedOut(message) {
    forget();
    $('board').hidden = true;
    $('who').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-error').textContent = message;
    $('login').focus();
  }

  async function showBoard() {
    $('sign-in').hidden = true;
    $('board').hidden = false;
    $('who').hidden = false;
    $('who-name').textContent = session.user.display_name || session.user.username;
    $('status').textContent = 'Loading the figures…';
    await loadCategories();
    await load();
    $('tiers-heading').focus();
  }

  async function loadCategories() {
    try {
      var page = await getJson(API + '/categories');
      var select = $('category');
      while (select.options.length > 1) select.remove(1);
      (page.items || []).forEach(function (c) {
        var option = document.createElement('option');
        option.value = c.slug;
        option.textContent = c.name;
        select.appendChild(option);
      });
    } catch (e) { /* the filter stays at "All categories" */ }
  }

  // ---- the figures ----

  function query(withGranularity) {
    var params = new URLSearchParams();
    ['from', 'to', 'category'].forEach(function (name) {
      var value = $(name).value;
      if (value) params.set(name, value);
    });
    var area = $('area').value.trim();
    if (area) params.set('area', area);
    if (withGranularity) params.set('granularity', $('granularity').value);
    return params.toString();
  }

  async function load(event) {
    if (event) event.preventDefault();
    if (!session) return;
    var from = $('from').value;
    var to = $('to').value;
    if (from && to && from > to) {
      $('status').textContent = 'The period must start on or before its last day.';
      return;
    }
    var mine = ++generation;
    var q = query(false);
    var qs = q ? '?' + q : '';
    var sep = q ? '&' : '?';
    $('main').setAttribute('aria-busy', 'true');
    $('status').textContent = 'Loading the figures…';
    // The slower tables fill in as they arrive; the tiers do not wait.
    var parts = [
      getJson(API + '/deflection/summary' + qs).then(function (s) { if (mine === generation) showSummary(s); }),
      getJson(API + '/deflection/timeseries?' + query(true)).then(function (t) { if (mine === generation) showSeries(t); }),
      getJson(API + '/deflection/experiment' + qs).then(function (x) { if (mine === generation) showExperiment(x); }),
      getJson(API + '/deflection/questions' + qs + sep + 'limit=10').then(function (d) { if (mine === generation) showQuestions(d); }),
      getJson(API + '/deflection/gaps' + qs + sep + 'limit=10').then(function (g) { if (mine === generation) showGaps(g); })
    ];
    var results = await Promise.allSettled(parts);
    if (mine !== generation) return;
    $('main').setAttribute('aria-busy', 'false');
    var failed = results.filter(function (r) { return r.status === 'rejected'; });
    if (!session) return;
    if (failed.length) {
      $('status').textContent = 'Some figures could not be loaded: ' + failed[0].reason.message;
    } else {
      var category = $('category');
      var what = category.value ? category.options[category.selectedIndex].textContent : 'all categories';
      var area = $('area').value.trim();
      $('status').textContent = 'Showing ' + $('from').value + ' to ' + $('to').value + ', ' + what +
        (area ? ', area ' + area : '') + '.';
    }
  }

  function setFigure(id, value, text) {
    var el = $(id);
    el.dataset.value = String(value);
    el.textContent = text;
  }

  function money(amount, currency) {
    try {
      return new Intl.NumberFormat('en-GB', { style: 'currency', currency: currency }).format(amount);
    } catch (e) {
      return numbers.format(amount) + ' ' + currency;
    }
  }

  function percent(rate) {
    return rate === null || rate === undefined ? '–' : decimals.format(rate * 100) + ' %';
  }

  function showSummary(s) {
    if (!$('from').value) $('from').value = s.from;
    if (!$('to').value) $('to').value = s.to;
    setFigure('confirmed', s.confirmed.count, numbers.format(s.confirmed.count));
    setFigure('probable', s.probable.count, numbers.format(s.probable.count));
    setFigure('potential', s.potential.count, decimals.format(s.potential.count));
    $('potential-range').textContent = s.potential.viewers
      ? 'Range ' + decimals.format(s.potential.low) + ' to ' + decimals.format(s.potential.high) +
        ', from ' + numbers.format(s.potential.viewers) + ' readers'
      : 'No readers who did not contact us yet';
    var cost = s.cost_avoided;
    setFigure('cost-confirmed', cost.confirmed.point, money(cost.confirmed.point, cost.currency));
    setFigure('cost-probable', cost.probable.point, money(cost.probable.point, cost.currency));
    $('cost-basis').textContent = 'At ' + money(cost.cost_per_contact, cost.currency) + ' a contact (' +
      cost.cost_source + ', ' + cost.cost_year + ').';
    $('period').textContent = 'A resident counts if they made no contact within ' + s.window_days +
      ' days; figures from ' + s.provisional_from + ' on may still fall, as those windows are still open. ' +
      'Ranges at ' + decimals.format(s.confidence * 100) + ' % confidence.';
  }

  function cell(row, text, header) {
    var el = document.createElement(header ? 'th' : 'td');
    if (header) el.scope = 'row';
    if (text instanceof Node) el.appendChild(text); else el.textContent = text;
    row.appendChild(el);
    return el;
  }

  function fill(tableId, rows, empty, columns) {
    var body = $(tableId).tBodies[0];
    body.textContent = '';
    if (!rows.length) {
      var row = body.insertRow();
      var td = cell(row, empty);
      td.colSpan = columns;
      return;
    }
    rows.forEach(function (values) {
      var row = body.insertRow();
      values.forEach(function (v, i) { cell(row, v, i === 0); });
    });
  }

  function questionLink(id, title) {
    var a = document.createElement('a');
    a.href = '/questions/' + encodeURIComponent(id);
    a.textContent = title === null ? '(deleted question ' + id + ')' : title;
    return a;
  }

  function showSeries(t) {
    var buckets = t.buckets;
    fill('series-table', buckets.map(function (b) {
      return [b.start, b.end, numbers.format(b.confirmed.count), numbers.format(b.probable.count),
        decimals.format(b.potential.count)];
    }), 'No periods.', 5);
    drawChart(buckets);
  }

  function drawChart(buckets) {
    var box = $('chart');
    if (typeof window.uPlot !== 'function') {
      box.textContent = 'The chart could not be drawn; the table has its figures.';
      return;
    }
    var xs = buckets.map(function (b) { return Date.parse(b.start + 'T00:00:00Z') / 1000; });
    var data = [
      xs,
      buckets.map(function (b) { return b.confirmed.count; }),
      buckets.map(function (b) { return b.probable.count; }),
      buckets.map(function (b) { return b.potential.count; })
    ];
    var options = {
      width: Math.max(260, box.clientWidth),
      height: 260,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'); },
      scales: { y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      series: [
        { label: 'Period' },
        { label: 'Confirmed', stroke: '#0b4f8a', width: 2 },
        { label: 'Probable', stroke: '#b35c00', width: 2, dash: [8, 4] },
        { label: 'Potential', stroke: '#5b2d8f', width: 2, dash: [2, 3] }
      ],
      axes: [{ stroke: '#1b1b1b' }, { stroke: '#1b1b1b' }]
    };
    if (chart) chart.destroy();
    box.textContent = '';
    chart = new uPlot(options, data, box);
  }

  function showExperiment(x) {
    var names = { treatment: 'were shown suggestions', holdout: 'were shown none (hold-out)' };
    fill('experiment-table', x.arms.map(function (a) {
      var rate = a.submit_rate;
      var range = rate.value === null ? '–' : percent(rate.value) + ' (' + percent(rate.low) + ' to ' + percent(rate.high) + ')';
      return [names[a.arm] || a.arm, numbers.format(a.intents), numbers.format(a.submitted), range];
    }), 'No contact forms started.', 4);
    var d = x.difference;
    var verdict = $('experiment-verdict');
    if (x.holdout_percent === 0) {
      verdict.textContent = 'The hold-out test is off (an admin sets the share of residents held out).';
    } else if (d.value === null) {
      verdict.textContent = x.holdout_percent + ' % of residents are held out; there are not yet enough contact forms in both groups to compare.';
    } else {
      var points = decimals.format(Math.abs(d.value) * 100);
      var range = decimals.format(d.low * 100) + ' to ' + decimals.format(d.high * 100);
      var reading = d.low > 0 ? 'The suggestions prevent contacts.'
        : d.high < 0 ? 'The suggestions do not prevent contacts.'
        : 'The range includes zero: the test cannot yet tell whether the suggestions help.';
      verdict.textContent = 'Residents shown suggestions sent the form ' + points + ' percentage points ' +
        (d.value >= 0 ? 'less' : 'more') + ' often than those shown none (difference ' + range +
        ' points). ' + reading;
    }
  }

  function showQuestions(d) {
    fill('questions-table', d.items.map(function (q) {
      return [questionLink(q.question_id, q.title), q.category || '–', numbers.format(q.confirmed),
        numbers.format(q.probable), numbers.format(q.deflected)];
    }), 'No calls avoided in this period.', 5);
  }

  function showGaps(g) {
    var searches = function (list) {
      return list.map(function (s) { return [s.query, numbers.format(s.count)]; });
    };
    fill('zero-table', searches(g.zero_result_searches), 'None.', 2);
    fill('unsolved-table', searches(g.no_solved_result_searches), 'None.', 2);
    fill('help-table', g.still_need_help.map(function (q) {
      return [questionLink(q.question_id, q.title), numbers.format(q.count)];
    }), 'None.', 2);
  }

  async function download() {
    var button = $('download');
    button.disabled = true;
    $('status').textContent = 'Preparing the CSV…';
    try {
      var response = await authorised(API + '/deflection/export.csv?' + query(true), 'text/csv');
      var blob = await response.blob();
      var url = URL.createObjectURL(blob);
      var a = document.createElement('a');
      a.href = url;
      a.download = 'deflection-' + ($('from').value || 'from') + '-to-' + ($('to').value || 'today') + '.csv';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      $('status').textContent = 'The CSV has been downloaded.';
    } catch (e) {
      if (session) $('status').textContent = 'The CSV could not be downloaded: ' + e.message;
    } finally {
      button.disabled = false;
    }
  }

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      if (chart) chart.setSize({ width: Math.max(260, $('chart').clientWidth), height: 260 });
    }, 150);
  });

  $('tiers-heading').tabIndex = -1;
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('filters').addEventListener('submit', load);
  $('category').addEventListener('change', load);
  $('granularity').addEventListener('change', load);
  $('download').addEventListener('click', download);
})();
