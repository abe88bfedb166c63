// Hookline dashboard: one script, no framework, no build step, nothing from another origin.
//
// Safety rule: every string that came from the API (and so possibly from a customer, a
// receiver or a payload) reaches the page through text nodes and setAttribute on
// non-script attributes, never through an HTML parser. `h()` below is the only way this file
// makes elements.
'use strict';

(() => {
  const TOKEN_KEY = 'hookline.token';
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const signOutButton = document.getElementById('sign-out');
  const flashBox = document.getElementById('flash');

  // Who is signed in: {tenant_id, kind, read_only, metadata, expires_at}.
  let session = null;
  // Bumped on every navigation so a slow page does not draw over the next one.
  let generation = 0;

  // ---- DOM helpers -------------------------------------------------------------------------

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'value') el.value = value;
      else if (key === 'checked') el.checked = Boolean(value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    return append(el, children);
  }

  const SVG_NS = 'http://www.w3.org/2000/svg'; // a namespace name, never fetched
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    return append(el, children);
  }

  function show(...children) {
    main.replaceChildren(...children.flat(Infinity).filter(Boolean));
    const heading = main.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  }

  function flash(text) {
    flashBox.textContent = text;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { flashBox.textContent = ''; }, 6000);
  }

  const link = (href, ...text) => h('a', { href }, ...text);
  const badge = (text, kind) => h('span', { class: 'badge s-' + (kind || text) }, text);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
  const enc = encodeURIComponent;

  // ---- The API -----------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, body) {
      super((body && body.message) || 'the request failed with status ' + status);
      this.status = status;
      this.body = body || {};
    }
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  // Paths are relative ("v1/…") so the page also works under an API Gateway stage prefix.
  async function api(method, path, body) {
    const headers = { authorization: 'Bearer ' + (token() || '') };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, {
      method, headers, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (response.status === 401) {
      signOut('Session expired or invalid. Sign in again.');
      throw new ApiFailure(401, data);
    }
    if (!response.ok) throw new ApiFailure(response.status, data);
    return data;
  }

  const canWrite = () => !(session && session.read_only);

  // ---- Sign-in and sessions ----------------------------------------------------------------

  function signOut(message) {
    clearTimeout(loadSession.expiry);
    sessionStorage.removeItem(TOKEN_KEY);
    session = null;
    generation += 1;
    nav.hidden = true;
    signOutButton.hidden = true;
    who.textContent = '';
    if (location.hash !== '#/sign-in') history.replaceState(null, '', location.pathname + location.search + '#/sign-in');
    showSignIn(message);
  }

  function showSignIn(message) {
    const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'sign-in-hint' });
    const error = h('p', { id: 'sign-in-error', class: 'form-error', role: 'alert' }, message || '');
    const form = h('form', { class: 'card signin', 'aria-labelledby': 'sign-in-title' },
      h('h1', { id: 'sign-in-title' }, 'Sign in to Hookline'),
      h('div', { class: 'field' },
        h('label', { for: 'api-key' }, 'Tenant API key'),
        input,
        h('p', { id: 'sign-in-hint', class: 'hint' }, 'Kept in this tab only (sessionStorage) and sent as a header; no cookies.')),
      error,
      h('button', { type: 'submit', id: 'sign-in' }, 'Sign in'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      try {
        await loadSession();
        location.hash = '#/endpoints';
      } catch (err) {
        if (!(err instanceof ApiFailure && err.status === 401)) error.textContent = 'Could not sign in: ' + err.message;
      }
    });
    show(form);
    input.focus();
  }

  // `GET v1/session` says who the token is: {tenant_id, kind: "api_key" | "portal",
  // read_only, metadata, expires_at}. Where that route does not exist (404), a key that can
  // list endpoints is a full API key.
  async function loadSession() {
    try {
      session = await api('GET', 'v1/session');
    } catch (err) {
      if (!(err instanceof ApiFailure && err.status === 404)) throw err;
      await api('GET', 'v1/endpoints?limit=1');
      session = { tenant_id: null, kind: 'api_key', read_only: false, metadata: null, expires_at: null };
    }
    nav.hidden = false;
    signOutButton.hidden = false;
    const parts = [];
    parts.push(session.kind === 'portal' ? 'Portal session' : 'API key');
    if (session.tenant_id) parts.push(session.tenant_id);
    if (session.read_only) parts.push('read-only');
    if (session.expires_at) parts.push('until ' + when(session.expires_at));
    who.textContent = parts.join(' · ');
    clearTimeout(loadSession.expiry);
    if (session.expires_at) {
      // Leave when the session ends rather than at the next request's 401.
      const left = Math.min(new Date(session.expires_at).getTime() - Date.now(), 2 ** 31 - 1);
      loadSession.expiry = setTimeout(() => signOut('Session expired or invalid. Sign in again.'), Math.max(left, 0));
    }
  }

  // ---- Routing -----------------------------------------------------------------------------

  async function route() {
    // A portal link: /dashboard#session=<token>. Keep the token in this tab, drop it from the
    // URL (and so from history and from anything the address bar shares).
    if (location.hash.startsWith('#session=')) {
      const value = decodeURIComponent(location.hash.slice('#session='.length));
      sessionStorage.setItem(TOKEN_KEY, value);
      session = null;
      history.replaceState(null, '', location.pathname + location.search + '#/endpoints');
    }
    const mine = ++generation;
    if (!token()) return signOut('');
    try {
      if (!session) await loadSession();
    } catch (err) {
      if (!(err instanceof ApiFailure && err.status === 401)) showSignIn('Could not sign in: ' + err.message);
      return;
    }
    const [pathPart, queryPart] = location.hash.replace(/^#\/?/, '').split('?');
    const path = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
    const query = new URLSearchParams(queryPart || '');
    const view = pickView(path);
    show(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const content = await view(path, query);
      if (mine === generation) show(content);
    } catch (err) {
      if (mine !== generation || (err instanceof ApiFailure && err.status === 401)) return;
      show(h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, err.message),
        h('p', {}, link('#/endpoints', 'Back to the endpoints')));
    }
  }

  function pickView(path) {
    const [section, id, sub] = path;
    // A read-only session has no forms to fill; the API refuses its writes anyway.
    if (section === 'endpoints' && (id === 'new' || sub === 'edit') && !canWrite()) return endpointsPage;
    if (section === 'events' && id) return () => eventPage(id);
    if (section === 'events') return (_, query) => eventsPage(query);
    if (section === 'event-types') return eventTypesPage;
    if (section === 'endpoints' && id === 'new') return () => endpointForm(null);
    if (section === 'endpoints' && id && sub === 'edit') return () => api('GET', 'v1/endpoints/' + enc(id)).then(endpointForm);
    if (section === 'endpoints' && id) return () => endpointPage(id);
    return endpointsPage;
  }

  const refreshButton = () => h('button', { type: 'button', class: 'secondary', id: 'refresh', onclick: route }, 'Refresh');

  // ---- Endpoint statistics -----------------------------------------------------------------

  const DAY_MS = 24 * 3600 * 1000;
  const MAX_STAT_PAGES = 20;

  // The endpoint's attempts of the last 24 h (test sends left out), newest first.
  async function recentAttempts(endpointId) {
    const since = new Date(Date.now() - DAY_MS).toISOString();
    const attempts = [];
    let cursor = null;
    for (let page = 0; page < MAX_STAT_PAGES; page += 1) {
      const query = new URLSearchParams({ since });
      if (cursor) query.set('cursor', cursor);
      const body = await api('GET', 'v1/endpoints/' + enc(endpointId) + '/attempts?' + query);
      attempts.push(...body.data.filter((a) => !a.test));
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    attempts.sort((a, b) => (a.at < b.at ? 1 : -1));
    return attempts;
  }

  function successRate(attempts) {
    if (!attempts.length) return '—';
    const ok = attempts.filter((a) => a.succeeded).length;
    return Math.round((100 * ok) / attempts.length) + ' % (' + ok + '/' + attempts.length + ')';
  }

  function circuit(ep) {
    const health = ep.health || {};
    if (health.circuit_open_until && new Date(health.circuit_open_until) > new Date()) {
      return badge('open until ' + new Date(health.circuit_open_until).toLocaleTimeString(), 'open');
    }
    if (health.failing_since) return badge('closed, failing since ' + when(health.failing_since), 'failing');
    return badge('closed', 'closed');
  }

  function outcome(attempt) {
    if (attempt.error) return attempt.error.kind + (attempt.response_status ? ' ' + attempt.response_status : '');
    return String(attempt.response_status);
  }

  // Deliveries per hour over the last 24 h, succeeded over failed, as inline SVG.
  function chart(attempts) {
    const now = Date.now();
    const hours = Array.from({ length: 24 }, () => ({ ok: 0, bad: 0 }));
    for (const a of attempts) {
      const age = Math.floor((now - new Date(a.at).getTime()) / 3600000);
      if (age >= 0 && age < 24) hours[23 - age][a.succeeded ? 'ok' : 'bad'] += 1;
    }
    const ok = hours.reduce((n, x) => n + x.ok, 0);
    const bad = hours.reduce((n, x) => n + x.bad, 0);
    const peak = Math.max(1, ...hours.map((x) => x.ok + x.bad));
    const [W, H, left, top, bottom] = [520, 170, 34, 10, 24];
    const slot = (W - left - 6) / 24;
    const scale = (H - top - bottom) / peak;
    const bars = hours.map((x, i) => {
      const start = new Date(now - (23 - i) * 3600000);
      const label = start.getHours().toString().padStart(2, '0') + ':00 — ' + x.ok + ' succeeded, ' + x.bad + ' failed';
      const xPos = left + i * slot + 2;
      const okH = x.ok * scale;
      const badH = x.bad * scale;
      return svg('g', {},
        svg('title', {}, label),
        svg('rect', { class: 'ok', x: xPos, width: slot - 4, y: H - bottom - okH, height: okH }),
        svg('rect', { class: 'bad', x: xPos, width: slot - 4, y: H - bottom - okH - badH, height: badH }));
    });
    const ticks = [0, 6, 12, 18, 23].map((i) =>
      svg('text', { x: left + i * slot, y: H - 8 }, i === 23 ? 'now' : '−' + (24 - i) + ' h'));
    const caption = 'Deliveries per hour, last 24 h: ' + ok + ' succeeded, ' + bad + ' failed.';
    return h('figure', { class: 'chart', id: 'chart' },
      svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': caption, 'data-succeeded': ok, 'data-failed': bad },
        svg('line', { class: 'axis', x1: left, x2: W - 4, y1: H - bottom, y2: H - bottom }),
        svg('text', { x: 2, y: top + 8 }, String(peak)),
        svg('text', { x: 2, y: H - bottom }, '0'),
        bars, ticks),
      h('figcaption', {}, 'Deliveries per hour, last 24 h: ',
        h('span', { class: 'legend-ok' }, ok + ' succeeded'), ', ',
        h('span', { class: 'legend-bad' }, bad + ' failed'), '.'));
  }

  // ---- Endpoints ---------------------------------------------------------------------------

  const endpointName = (ep) => ep.description || ep.url;

  async function endpointsPage() {
    const endpoints = [];
    let cursor = null;
    do {
      const body = await api('GET', 'v1/endpoints?limit=100' + (cursor ? '&cursor=' + enc(cursor) : ''));
      endpoints.push(...body.data);
      cursor = body.next_cursor;
    } while (cursor);
    const stats = await Promise.all(endpoints.map((ep) => recentAttempts(ep.id).catch(() => null)));
    const rows = endpoints.map((ep, i) => {
      const attempts = stats[i];
      return h('tr', { 'data-endpoint': ep.id },
        h('td', {}, link('#/endpoints/' + enc(ep.id), endpointName(ep)), h('div', { class: 'hint' }, ep.url)),
        h('td', {}, badge(ep.status)),
        h('td', {}, circuit(ep)),
        h('td', { class: 'rate' }, attempts ? successRate(attempts) : 'unavailable'),
        h('td', {}, attempts && attempts.length ? when(attempts[0].at) + ' (' + outcome(attempts[0]) + ')' : '—'),
        h('td', { class: 'disabled-reason' }, ep.disabled_reason || ''));
    });
    return [
      h('h1', {}, 'Endpoints'),
      h('div', { class: 'actions' },
        canWrite() ? h('a', { class: 'button', href: '#/endpoints/new', id: 'new-endpoint' }, 'New endpoint') : null,
        refreshButton()),
      endpoints.length
        ? h('table', { id: 'endpoints' },
          h('thead', {}, h('tr', {}, ['Endpoint', 'Status', 'Circuit', 'Success (24 h)', 'Last attempt', 'Disabled because'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, rows))
        : h('p', {}, 'No endpoints yet.'),
    ];
  }

  function describeRetry(retry) {
    if (!retry) return '—';
    if (retry.strategy === 'exponential') return 'exponential: ' + retry.initial_seconds + ' s doubling to ' + retry.max_seconds + ' s, ' + retry.max_attempts + ' attempts';
    if (retry.strategy === 'linear') return 'linear: every ' + retry.interval_seconds + ' s × attempt, ' + retry.max_attempts + ' attempts';
    return 'schedule: ' + (retry.schedule_seconds || []).join(', ') + ' s';
  }

  function props(pairs) {
    return h('dl', { class: 'props' }, pairs.filter(([, v]) => v !== undefined).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === null || v === '' ? '—' : v)]));
  }

  function pairsText(object) {
    const entries = Object.entries(object || {});
    return entries.length ? entries.map(([k, v]) => k + ' = ' + v).join('\n') : null;
  }

  async function endpointPage(id) {
    const [ep, attempts] = await Promise.all([api('GET', 'v1/endpoints/' + enc(id)), recentAttempts(id)]);
    const auth = ep.auth || { type: 'none' };
    const summary = props([
      ['URL', h('code', {}, ep.url)],
      ['Status', [badge(ep.status), ep.disabled_reason ? h('span', { class: 'disabled-reason' }, ' ' + ep.disabled_reason) : null]],
      ['Circuit', circuit(ep)],
      ['Success (24 h)', h('span', { id: 'success-rate' }, successRate(attempts))],
      ['Last attempt', attempts.length ? when(attempts[0].at) + ' (' + outcome(attempts[0]) + ')' : null],
    ]);
    const settings = props([
      ['Event types', (ep.event_types || []).join(', ')],
      ['Method', ep.method],
      ['Format', ep.format],
      ['Template', ep.template ? h('pre', {}, ep.template) : null],
      ['Query', ep.query && Object.keys(ep.query).length ? h('pre', {}, pairsText(ep.query)) : null],
      ['Thread key', ep.thread_key || null],
      ['Signed', ep.sign === undefined ? undefined : (ep.sign ? 'yes' : 'no')],
      ['Auth', auth.type + (auth.header ? ' (' + auth.header + ')' : '') + (auth.username ? ' (' + auth.username + ')' : '')],
      // Values are write-only: shown once, when the endpoint is created.
      ['Headers', (ep.headers || []).length ? h('pre', {}, ep.headers.map((x) => x.value === undefined ? x.name + ': (write-only)' : x.name + ': ' + x.value).join('\n')) : null],
      ['Metadata', pairsText(ep.metadata) ? h('pre', {}, pairsText(ep.metadata)) : null],
      ['Retry', describeRetry(ep.retry)],
      ['Rate limit', ep.rate_limit_per_second ? ep.rate_limit_per_second + '/s' + (ep.rate_limit_key ? ' (key ' + ep.rate_limit_key + ')' : '') : null],
      ['Timeout', ep.timeout_ms + ' ms'],
      ['Disable after', ep.disable_after_hours + ' h without a success'],
      ['Created', when(ep.created_at)],
    ]);
    const secretBox = h('div', { id: 'secret-box', 'aria-live': 'polite' });
    const writeActions = canWrite() ? endpointActions(ep, secretBox) : [];
    const attemptRows = attempts.slice(0, 50).map((a) => h('tr', {},
      h('td', {}, when(a.at)),
      h('td', {}, link('#/events/' + enc(a.event_id), a.event_id)),
      h('td', {}, String(a.number)),
      h('td', {}, badge(outcome(a), a.succeeded ? 'succeeded' : 'failed')),
      h('td', {}, a.latency_ms + ' ms')));
    return [
      h('h1', {}, endpointName(ep)),
      h('div', { class: 'actions' }, refreshButton(), link('#/endpoints', 'All endpoints')),
      h('div', { class: 'card split' }, summary, chart(attempts)),
      h('h2', {}, 'Recent attempts'),
      attemptRows.length
        ? h('table', { id: 'endpoint-attempts' },
          h('thead', {}, h('tr', {}, ['Time', 'Event', '#', 'Answer', 'Latency'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, attemptRows))
        : h('p', {}, 'No attempts in the last 24 hours.'),
      writeActions,
      h('h2', {}, 'Settings'),
      h('div', { class: 'card' }, settings),
    ];
  }

  function endpointActions(ep, secretBox) {
    const busy = async (button, work) => {
      button.disabled = true;
      try { await work(); } catch (err) { if (err.status !== 401) flash('Failed: ' + err.message); } finally { button.disabled = false; }
    };
    const toggle = h('button', { type: 'button', id: 'toggle-enabled', class: ep.status === 'active' ? 'danger' : '' },
      ep.status === 'active' ? 'Disable' : 'Enable');
    toggle.addEventListener('click', () => busy(toggle, async () => {
      await api('PATCH', 'v1/endpoints/' + enc(ep.id), { enabled: ep.status !== 'active' });
      flash(ep.status === 'active' ? 'Endpoint disabled.' : 'Endpoint enabled.');
      route();
    }));
    const showSecret = (body) => secretBox.replaceChildren(h('p', {}, 'Signing secret: ', h('code', { id: 'secret' }, body.secret)),
      body.previous_secret ? h('p', { class: 'hint' }, 'The previous secret also signs until ' + when(body.previous_secret_expires_at) + '.') : null);
    const reveal = h('button', { type: 'button', class: 'secondary', id: 'reveal-secret' }, 'Reveal secret');
    reveal.addEventListener('click', () => busy(reveal, async () => showSecret(await api('GET', 'v1/endpoints/' + enc(ep.id) + '/secret'))));
    const rotate = h('button', { type: 'button', class: 'secondary', id: 'rotate-secret' }, 'Rotate secret');
    rotate.addEventListener('click', () => busy(rotate, async () => {
      showSecret(await api('POST', 'v1/endpoints/' + enc(ep.id) + '/secret/rotate', {}));
      flash('Secret rotated; the old one signs for 24 h more.');
    }));

    // Test send: both answers when check_auth is on.
    const testType = h('input', { id: 'test-event-type', type: 'text', placeholder: 'hookline.test' });
    const checkAuth = h('input', { id: 'test-check-auth', type: 'checkbox', disabled: (ep.auth || {}).type === 'none' });
    const testResult = h('div', { id: 'test-result', 'aria-live': 'polite' });
    const testForm = h('form', { class: 'inline-form', id: 'test-form' },
      h('div', { class: 'field' }, h('label', { for: 'test-event-type' }, 'Event type'), testType),
      h('div', { class: 'field' }, h('label', { for: 'test-check-auth' }, checkAuth, ' Also send a wrong credential')),
      h('button', { type: 'submit', id: 'test-send' }, 'Send test'));
    testForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const button = testForm.querySelector('button');
      busy(button, async () => {
        const body = { check_auth: checkAuth.checked };
        if (testType.value.trim()) body.event_type = testType.value.trim();
        try {
          testResult.replaceChildren(testReport(await api('POST', 'v1/endpoints/' + enc(ep.id) + '/test', body)));
        } catch (err) {
          if (err.status === 401) return;
          testResult.replaceChildren(h('p', { class: 'error', role: 'alert' }, errorText(err)));
        }
      });
    });

    // Recover since a time.
    const since = h('input', { id: 'recover-since', type: 'datetime-local', required: true,
      value: localInput(new Date(Date.now() - DAY_MS)) });
    const recoverForm = h('form', { class: 'inline-form', id: 'recover-form' },
      h('div', { class: 'field' }, h('label', { for: 'recover-since' }, 'Failed or paused since'), since),
      h('button', { type: 'submit', id: 'recover' }, 'Recover'));
    const recoverResult = h('p', { id: 'recover-result', 'aria-live': 'polite' });
    recoverForm.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(recoverForm.querySelector('button'), async () => {
        try {
          const path = 'v1/endpoints/' + enc(ep.id) + '/recover';
          let body = await api('POST', path, { since: new Date(since.value).toISOString() });
          const reenabled = body.reenabled;
          let requeued = body.requeued;
          // A long window comes in parts: each answer says where the next one starts.
          while (body.continuation) {
            body = await api('POST', path, { continuation: body.continuation });
            requeued += body.requeued;
          }
          recoverResult.textContent = requeued + ' deliveries queued again' + (reenabled ? '; the endpoint is enabled again.' : '.');
        } catch (err) {
          if (err.status !== 401) recoverResult.textContent = errorText(err);
        }
      });
    });

    return [
      h('div', { class: 'card' },
        h('h2', {}, 'Actions'),
        h('div', { class: 'actions' }, h('a', { class: 'button secondary', href: '#/endpoints/' + enc(ep.id) + '/edit', id: 'edit-endpoint' }, 'Edit'), toggle, reveal, rotate),
        secretBox,
        h('h2', {}, 'Test send'), testForm, testResult,
        h('h2', {}, 'Recover'), recoverForm, recoverResult),
    ];
  }

  function localInput(date) {
    const pad = (n) => String(n).padStart(2, '0');
    return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate()) + 'T' + pad(date.getHours()) + ':' + pad(date.getMinutes());
  }

  function errorText(err) {
    const fields = (err.body && err.body.errors) || [];
    return [err.message, ...fields.map((f) => f.field + ': ' + f.message)].join(' — ');
  }

  function testReport(report) {
    const answer = (title, status, error, extra) => h('div', { class: 'card' },
      h('h3', {}, title),
      props([
        ['Status', status === null || status === undefined ? '—' : String(status)],
        ['Error', error ? error.kind + ': ' + error.message : null],
        ...extra,
      ]));
    const r = report.response || {};
    return h('div', { class: 'answers' },
      answer('With the real credential', r.status, r.error, [
        ['Succeeded', report.succeeded ? 'yes' : 'no'],
        ['Latency', r.latency_ms + ' ms'],
        ['Body', h('pre', {}, r.body_excerpt || '')],
        ['Recorded as', link('#/events/' + enc(report.event_id), report.event_id)],
      ]),
      report.auth_check
        ? answer('With a wrong credential', report.auth_check.status, report.auth_check.error, [
          ['Refused', report.auth_check.refused ? 'yes (good: the receiver checks credentials)' : 'no: the receiver accepted a wrong credential'],
        ])
        : null);
  }

  // ---- The endpoint form: every option, the API's field errors beside their fields --------

  const FIELD_ALIASES = { auth: 'auth_type', retry: 'retry_strategy' };

  function endpointForm(ep) {
    const editing = Boolean(ep);
    const e = ep || {};
    const auth = e.auth || { type: 'none' };
    const retry = e.retry || { strategy: 'exponential' };
    const field = (name, label, control, hint) => h('div', { class: 'field', 'data-field': name },
      h('label', { for: 'f-' + name }, label, hint ? h('span', { class: 'hint' }, ' ' + hint) : null),
      control,
      h('p', { class: 'field-error', id: 'e-' + name, hidden: true }));
    const input = (name, value, attrs) => h('input', Object.assign({ id: 'f-' + name, name, type: 'text', value: value === null || value === undefined ? '' : String(value), 'aria-describedby': 'e-' + name }, attrs || {}));
    const select = (name, options, value) => h('select', { id: 'f-' + name, name, 'aria-describedby': 'e-' + name },
      options.map((o) => { const opt = h('option', { value: o }, o); if (o === value) opt.selected = true; return opt; }));
    const area = (name, value) => { const t = h('textarea', { id: 'f-' + name, name, 'aria-describedby': 'e-' + name }); t.value = value || ''; return t; };

    const authType = select('auth_type', ['none', 'api_key', 'basic', 'bearer'], auth.type);
    const strategy = select('retry_strategy', ['exponential', 'linear', 'schedule'], retry.strategy);
    const format = select('format', ['json', 'xml', 'form', 'chime', 'google_chat', 'slack'], e.format || 'json');
    const secretHint = editing ? '(write-only: leave empty to keep the current one)' : '';
    const groups = {
      api_key: [field('auth_header', 'Header name', input('auth_header', auth.header)), field('auth_value', 'Header value', input('auth_value', '', { type: 'password', autocomplete: 'off' }), secretHint)],
      basic: [field('auth_username', 'Username', input('auth_username', auth.username)), field('auth_password', 'Password', input('auth_password', '', { type: 'password', autocomplete: 'off' }), secretHint)],
      bearer: [field('auth_token', 'Token', input('auth_token', '', { type: 'password', autocomplete: 'off' }), secretHint)],
    };
    const retryGroups = {
      exponential: [field('initial_seconds', 'First wait (s)', input('initial_seconds', retry.initial_seconds, { type: 'number', min: 1 })),
        field('max_seconds', 'Longest wait (s)', input('max_seconds', retry.max_seconds, { type: 'number', min: 1 })),
        field('max_attempts', 'Attempts', input('max_attempts', retry.max_attempts, { type: 'number', min: 1 }))],
      linear: [field('interval_seconds', 'Interval (s) × attempt', input('interval_seconds', retry.interval_seconds, { type: 'number', min: 1 })),
        field('linear_max_attempts', 'Attempts', input('linear_max_attempts', retry.max_attempts, { type: 'number', min: 1 }))],
      schedule: [field('schedule_seconds', 'Waits (s), comma-separated', input('schedule_seconds', (retry.schedule_seconds || []).join(', ')))],
    };
    const syncGroups = () => {
      for (const [kind, fields] of Object.entries(groups)) fields.forEach((f) => { f.hidden = authType.value !== kind; });
      for (const [kind, fields] of Object.entries(retryGroups)) fields.forEach((f) => { f.hidden = strategy.value !== kind; });
    };
    authType.addEventListener('change', syncGroups);
    strategy.addEventListener('change', syncGroups);
    syncGroups();

    // Header values are write-only (the API shows names only): editing starts from an empty
    // field that, left empty, keeps the current headers; lines typed in replace them all.
    const currentHeaders = (e.headers || []).map((x) => x.name);
    const clearHeaders = editing && currentHeaders.length
      ? h('input', { id: 'f-clear_headers', name: 'clear_headers', type: 'checkbox' }) : null;
    const headersField = field('headers', 'Custom headers', area('headers', ''),
      currentHeaders.length
        ? '(values are write-only: leave empty to keep ' + currentHeaders.join(', ') + '; lines here replace them all)'
        : 'one Name: value per line, at most 5');
    if (clearHeaders) headersField.append(h('label', { for: 'f-clear_headers' }, clearHeaders, ' Remove the custom headers'));
    const formError = h('div', { id: 'form-error', class: 'form-error', role: 'alert' });
    const sign = h('input', { id: 'f-sign', name: 'sign', type: 'checkbox', checked: e.sign, 'aria-describedby': 'e-sign' });
    const form = h('form', { id: 'endpoint-form', novalidate: true },
      h('div', { class: 'card' }, h('h2', {}, 'Where'), h('div', { class: 'grid' },
        field('url', 'URL', input('url', e.url, { type: 'url', required: true })),
        field('description', 'Name / description', input('description', e.description)),
        field('event_types', 'Event types', input('event_types', (e.event_types || []).join(', ')), 'comma-separated; order.* or * allowed'),
        field('method', 'Method', select('method', ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'], e.method || 'POST')),
        field('timeout_ms', 'Timeout (ms)', input('timeout_ms', e.timeout_ms, { type: 'number', min: 1000, max: 30000 })))),
      h('div', { class: 'card' }, h('h2', {}, 'Format and chat rooms'), h('div', { class: 'grid' },
        field('format', 'Format', format),
        field('template', 'Template', area('template', e.template), '{{event.type}}, {{payload.x}}'),
        field('query', 'Query parameters', area('query', pairsText(e.query)), 'one name = template per line'),
        field('thread_key', 'Thread key', input('thread_key', e.thread_key)),
        h('div', { class: 'field', 'data-field': 'sign' }, h('label', { for: 'f-sign' }, sign, ' Sign chat messages'), h('p', { class: 'field-error', id: 'e-sign', hidden: true })))),
      h('div', { class: 'card' }, h('h2', {}, 'Authentication and headers'), h('div', { class: 'grid' },
        field('auth_type', 'Auth', authType), groups.api_key, groups.basic, groups.bearer,
        headersField,
        field('metadata', 'Metadata', area('metadata', pairsText(e.metadata)), 'one key = value per line'))),
      h('div', { class: 'card' }, h('h2', {}, 'Retries and limits'), h('div', { class: 'grid' },
        field('retry_strategy', 'Retry strategy', strategy), retryGroups.exponential, retryGroups.linear, retryGroups.schedule,
        field('rate_limit_per_second', 'Rate limit (per second)', input('rate_limit_per_second', e.rate_limit_per_second, { type: 'number', min: 1 })),
        field('rate_limit_key', 'Rate limit key', input('rate_limit_key', e.rate_limit_key), 'endpoints sharing a key share the limit'),
        field('disable_after_hours', 'Disable after (hours without success)', input('disable_after_hours', e.disable_after_hours, { type: 'number', min: 1 })))),
      formError,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', id: 'save-endpoint' }, editing ? 'Save changes' : 'Create endpoint'),
        h('a', { class: 'button secondary', href: editing ? '#/endpoints/' + enc(e.id) : '#/endpoints' }, 'Cancel')));

    const value = (name) => form.elements[name].value.trim();
    const lines = (name) => value(name).split('\n').map((l) => l.trim()).filter(Boolean);
    const pairs = (name, separator) => {
      const out = {};
      for (const line of lines(name)) {
        const at = line.indexOf(separator);
        if (at < 0) throw new FieldProblem(name, 'write each line as name ' + separator.trim() + ' value');
        out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      return out;
    };
    const number = (name) => {
      const text = value(name);
      if (!text) return undefined;
      const n = Number(text);
      if (!Number.isInteger(n)) throw new FieldProblem(name, 'a whole number');
      return n;
    };

    function collect() {
      const body = {};
      // Empty means "the default": left out when creating, cleared (null) when editing.
      const put = (key, v) => {
        if (v === undefined || v === '') { if (editing) body[key] = null; } else body[key] = v;
      };
      // The API shows a URL's credentials as `redacted`: send the URL only when it was changed,
      // or the stored credential would be replaced by that word.
      if (!editing || value('url') !== e.url) put('url', value('url'));
      put('description', value('description'));
      const types = value('event_types').split(',').map((t) => t.trim()).filter(Boolean);
      put('event_types', types.length ? types : undefined);
      put('method', value('method'));
      put('timeout_ms', number('timeout_ms'));
      put('format', value('format'));
      put('template', form.elements.template.value || undefined);
      put('query', lines('query').length ? pairs('query', '=') : undefined);
      put('thread_key', value('thread_key'));
      body.sign = sign.checked;
      const type = value('auth_type');
      if (type === 'none') {
        if (!editing || auth.type !== 'none') body.auth = { type: 'none' };
      } else {
        const secretOf = { api_key: 'auth_value', basic: 'auth_password', bearer: 'auth_token' }[type];
        const secret = value(secretOf);
        // Credentials are write-only: an unchanged kind with no new secret keeps the stored one.
        if (secret || !editing || auth.type !== type) {
          if (type === 'api_key') body.auth = { type, header: value('auth_header'), value: secret };
          if (type === 'basic') body.auth = { type, username: value('auth_username'), password: secret };
          if (type === 'bearer') body.auth = { type, token: secret };
        }
      }
      if (lines('headers').length) body.headers = Object.entries(pairs('headers', ':')).map(([name, v]) => ({ name, value: v }));
      else if (clearHeaders && clearHeaders.checked) body.headers = null;
      put('metadata', lines('metadata').length ? pairs('metadata', '=') : undefined);
      const s = value('retry_strategy');
      const r = { strategy: s };
      if (s === 'exponential') Object.assign(r, { initial_seconds: number('initial_seconds'), max_seconds: number('max_seconds'), max_attempts: number('max_attempts') });
      if (s === 'linear') Object.assign(r, { interval_seconds: number('interval_seconds'), max_attempts: number('linear_max_attempts') });
      if (s === 'schedule') {
        const steps = value('schedule_seconds').split(',').map((x) => x.trim()).filter(Boolean).map(Number);
        if (steps.some((n) => !Number.isInteger(n))) throw new FieldProblem('schedule_seconds', 'whole numbers separated by commas');
        r.schedule_seconds = steps;
      }
      for (const k of Object.keys(r)) if (r[k] === undefined) delete r[k];
      body.retry = r;
      put('rate_limit_per_second', number('rate_limit_per_second'));
      put('rate_limit_key', value('rate_limit_key'));
      put('disable_after_hours', number('disable_after_hours'));
      return body;
    }

    function clearErrors() {
      formError.textContent = '';
      for (const p of form.querySelectorAll('.field-error')) { p.textContent = ''; p.hidden = true; }
      for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
    }

    // `headers[1].name` → headers, `retry.max_attempts` → max_attempts or retry_strategy.
    function fieldFor(apiField) {
      const candidates = [apiField, apiField.split('.').pop(), apiField.split(/[[.]/)[0]];
      for (const name of candidates) {
        const target = FIELD_ALIASES[name] || name;
        if (form.querySelector('#e-' + CSS.escape(target))) return target;
      }
      return null;
    }

    function showFieldError(name, message) {
      const p = form.querySelector('#e-' + CSS.escape(name));
      const control = form.querySelector('#f-' + CSS.escape(name));
      p.textContent = p.textContent ? p.textContent + ' ' + message : message;
      p.hidden = false;
      if (control) control.setAttribute('aria-invalid', 'true');
      const wrapper = p.closest('[data-field]');
      if (wrapper) wrapper.hidden = false;
    }

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      const button = form.querySelector('#save-endpoint');
      button.disabled = true;
      try {
        const body = collect();
        const saved = editing
          ? await api('PATCH', 'v1/endpoints/' + enc(e.id), body)
          : await api('POST', 'v1/endpoints', body);
        flash(editing ? 'Endpoint saved.' : 'Endpoint created.');
        location.hash = '#/endpoints/' + enc(saved.id);
      } catch (err) {
        if (err instanceof FieldProblem) {
          showFieldError(err.field, err.message);
        } else if (err instanceof ApiFailure) {
          if (err.status === 401) return;
          formError.textContent = err.message;
          for (const f of (err.body.errors || [])) {
            const name = fieldFor(f.field);
            if (name) showFieldError(name, f.message);
            else formError.append(h('div', {}, f.field + ': ' + f.message));
          }
        } else {
          formError.textContent = String(err.message || err);
        }
        const first = form.querySelector('[aria-invalid=true]');
        if (first) first.focus();
      } finally {
        button.disabled = false;
      }
    });

    return [h('h1', {}, editing ? 'Edit ' + endpointName(e) : 'New endpoint'), form];
  }

  class FieldProblem extends Error {
    constructor(field, message) { super(message); this.field = field; }
  }

  // ---- Events ------------------------------------------------------------------------------

  async function eventsPage(query) {
    const params = new URLSearchParams();
    for (const key of ['event_type', 'status', 'since', 'until', 'cursor']) if (query.get(key)) params.set(key, query.get(key));
    params.set('limit', '50');
    const page = await api('GET', 'v1/events?' + params);
    const fromIso = (iso) => (iso ? localInput(new Date(iso)) : '');
    const statusSelect = h('select', { id: 'filter-status', name: 'status' },
      ['', 'pending', 'delivered', 'failed', 'paused'].map((s) => { const o = h('option', { value: s }, s || 'any'); if (s === (query.get('status') || '')) o.selected = true; return o; }));
    const filter = h('form', { class: 'inline-form card', id: 'event-filter', role: 'search', 'aria-label': 'Filter events' },
      h('div', { class: 'field' }, h('label', { for: 'filter-type' }, 'Event type'), h('input', { id: 'filter-type', name: 'event_type', type: 'text', value: query.get('event_type') || '' })),
      h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Delivery status'), statusSelect),
      h('div', { class: 'field' }, h('label', { for: 'filter-since' }, 'Since'), h('input', { id: 'filter-since', name: 'since', type: 'datetime-local', value: fromIso(query.get('since')) })),
      h('div', { class: 'field' }, h('label', { for: 'filter-until' }, 'Until'), h('input', { id: 'filter-until', name: 'until', type: 'datetime-local', value: fromIso(query.get('until')) })),
      h('button', { type: 'submit', id: 'apply-filter' }, 'Filter'));
    filter.addEventListener('submit', (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const name of ['event_type', 'status']) if (filter.elements[name].value.trim()) next.set(name, filter.elements[name].value.trim());
      for (const name of ['since', 'until']) if (filter.elements[name].value) next.set(name, new Date(filter.elements[name].value).toISOString());
      location.hash = '#/events?' + next;
    });
    const search = h('form', { class: 'inline-form card', id: 'event-search', role: 'search', 'aria-label': 'Find an event by id' },
      h('div', { class: 'field' }, h('label', { for: 'event-id' }, 'Event id'), h('input', { id: 'event-id', type: 'text', placeholder: 'evt_…' })),
      h('button', { type: 'submit', id: 'find-event' }, 'Open'));
    search.addEventListener('submit', (event) => {
      event.preventDefault();
      const id = search.querySelector('#event-id').value.trim();
      if (id) location.hash = '#/events/' + enc(id);
    });
    const rows = page.data.map((ev) => h('tr', { 'data-event': ev.id },
      h('td', {}, link('#/events/' + enc(ev.id), ev.id)),
      h('td', {}, ev.event_type),
      h('td', {}, when(ev.created_at)),
      h('td', {}, String(ev.delivery_count)),
      h('td', {}, ev.payload_expunged ? 'expunged' : '')));
    let next = null;
    if (page.next_cursor) {
      const q = new URLSearchParams(query);
      q.set('cursor', page.next_cursor);
      next = h('p', {}, link('#/events?' + q, 'Older events'));
    }
    return [
      h('h1', {}, 'Events'),
      h('div', { class: 'actions' }, refreshButton()),
      search, filter,
      rows.length
        ? h('table', { id: 'events' }, h('thead', {}, h('tr', {}, ['Event', 'Type', 'Created', 'Deliveries', 'Payload'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows))
        : h('p', {}, 'No events match.'),
      next,
    ];
  }

  function prettyPayload(event) {
    if (event.payload_expunged || event.payload === null) return h('p', { id: 'payload', class: 'muted' }, 'expunged');
    return h('pre', { id: 'payload' }, JSON.stringify(event.payload, null, 2));
  }

  async function eventPage(id) {
    const [event, attempts, endpoints] = await Promise.all([
      api('GET', 'v1/events/' + enc(id)),
      api('GET', 'v1/events/' + enc(id) + '/attempts'),
      api('GET', 'v1/endpoints?limit=100').catch(() => ({ data: [] })),
    ]);
    const names = new Map(endpoints.data.map((ep) => [ep.id, endpointName(ep)]));
    const deliveryRows = event.deliveries.map((d) => {
      const resend = canWrite() ? h('button', { type: 'button', class: 'secondary resend', 'data-endpoint': d.endpoint_id }, 'Resend') : null;
      if (resend) {
        resend.addEventListener('click', async () => {
          resend.disabled = true;
          try {
            const body = await api('POST', 'v1/events/' + enc(event.id) + '/endpoints/' + enc(d.endpoint_id) + '/resend');
            flash('Resent: it will be attempt ' + body.attempt + '.');
            route();
          } catch (err) {
            if (err.status !== 401) flash('Resend failed: ' + err.message);
            resend.disabled = false;
          }
        });
      }
      return h('tr', { 'data-endpoint': d.endpoint_id },
        h('td', {}, link('#/endpoints/' + enc(d.endpoint_id), names.get(d.endpoint_id) || d.endpoint_id)),
        h('td', { class: 'delivery-status' }, badge(d.status)),
        h('td', { class: 'delivery-attempts' }, String(d.attempts)),
        h('td', {}, d.last_error || ''),
        h('td', {}, d.next_attempt_at && d.status === 'pending' ? when(d.next_attempt_at) : ''),
        h('td', {}, resend));
    });
    const byEndpoint = new Map();
    for (const a of attempts.data) {
      if (!byEndpoint.has(a.endpoint_id)) byEndpoint.set(a.endpoint_id, []);
      byEndpoint.get(a.endpoint_id).push(a);
    }
    const timelines = [...byEndpoint].map(([endpointId, list]) => h('section', { class: 'card', 'aria-label': 'Attempts to ' + (names.get(endpointId) || endpointId) },
      h('h3', {}, 'To ', names.get(endpointId) || endpointId),
      h('ol', { class: 'timeline', 'data-endpoint': endpointId }, list.map((a) => h('li', { class: a.succeeded ? 'ok attempt' : 'bad attempt' },
        h('div', {}, h('strong', {}, '#' + a.number + ' '), when(a.at), ' — ', badge(outcome(a), a.succeeded ? 'succeeded' : 'failed'), ' — ', a.latency_ms + ' ms',
          a.test ? ' (test)' : '', a.truncated ? ' (message cut to fit the room)' : ''),
        a.error ? h('div', { class: 'error' }, a.error.message) : null,
        a.response_headers && Object.keys(a.response_headers).length
          ? props(Object.entries(a.response_headers).map(([k, v]) => [k, v])) : null,
        a.response_body ? h('pre', { class: 'response-body' }, a.response_body_base64 ? '(base64) ' + a.response_body : a.response_body) : null)))));
    return [
      h('h1', {}, 'Event ', event.id),
      h('div', { class: 'actions' }, refreshButton(), link('#/events', 'All events')),
      h('div', { class: 'card' }, props([
        ['Type', event.event_type],
        ['Created', when(event.created_at)],
        ['Idempotency key', event.idempotency_key || null],
      ])),
      h('h2', {}, 'Payload'),
      prettyPayload(event),
      h('h2', {}, 'Deliveries'),
      deliveryRows.length
        ? h('table', { id: 'deliveries' }, h('thead', {}, h('tr', {}, ['Endpoint', 'Status', 'Attempts', 'Last error', 'Next attempt', ''].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, deliveryRows))
        : h('p', {}, 'No endpoint was subscribed to this event.'),
      h('h2', {}, 'Attempts'),
      timelines.length ? timelines : h('p', {}, 'No attempts yet.'),
    ];
  }

  // ---- The event-type catalogue ------------------------------------------------------------

  async function eventTypesPage() {
    const body = await api('GET', 'v1/event-types');
    return [
      h('h1', {}, 'Event types'),
      body.data.length
        ? body.data.map((t) => h('section', { class: 'card', 'data-event-type': t.name },
          h('h2', {}, h('code', {}, t.name)),
          t.description ? h('p', {}, t.description) : null,
          t.example ? [h('h3', {}, 'Example'), h('pre', {}, JSON.stringify(t.example, null, 2))] : h('p', { class: 'muted' }, 'No example.'),
          h('p', {}, link('#/events?event_type=' + enc(t.name), 'Events of this type'))))
        : h('p', {}, 'No event types registered: any type is accepted.'),
    ];
  }

  // ---- Start -------------------------------------------------------------------------------

  signOutButton.addEventListener('click', () => signOut('Signed out.'));
  window.addEventListener('hashchange', route);
  route();
})();
