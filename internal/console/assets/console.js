// Pixiu console: plain JavaScript, no build step, no dependencies.
// Pages are built with h() (never innerHTML), so app names and event data
// are always text.
'use strict';

(() => {
  let csrf = document.querySelector('meta[name="csrf-token"]').content;
  const main = document.getElementById('main');
  const crumbs = document.getElementById('crumbs');
  const signout = document.getElementById('signout');
  const signoutAll = document.getElementById('signout-all');
  let cleanup = []; // run when leaving a page (streams, timers)

  // ---- DOM and HTTP helpers ----

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v == null) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  class APIError extends Error {
    constructor(status, body) {
      super(body.error || `HTTP ${status}`);
      this.status = status;
      this.fields = body.fields || {};
    }
  }

  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf;
    const res = await fetch('/console/api' + path, opts);
    if (res.status === 204) return null;
    const data = await res.json().catch(() => ({ error: res.statusText }));
    if (res.status === 401 && path !== '/login') {
      showLogin(data.error);
      throw new APIError(401, data);
    }
    if (!res.ok) throw new APIError(res.status, data);
    return data;
  }

  function toast(msg) {
    const t = document.getElementById('toast');
    t.textContent = msg;
    t.classList.add('show');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => t.classList.remove('show'), 2200);
  }

  // copy puts text on the clipboard. navigator.clipboard exists only in
  // secure contexts (https, localhost): a console opened over plain http on
  // another address (a LAN IP, a container's name) copies through a
  // selected, off-screen textarea instead.
  async function copy(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
      else if (!copyBySelection(text)) throw new Error('copy refused');
      toast('Copied');
    } catch {
      toast('Copy failed: select the text instead');
    }
  }

  function copyBySelection(text) {
    const ta = h('textarea', { readonly: true, 'aria-hidden': 'true', class: 'offscreen' });
    ta.value = text;
    const focused = document.activeElement;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    focused?.focus?.();
    return ok;
  }

  function copyButton(text, label = 'Copy') {
    return h('button', { class: 'ghost small copy', type: 'button', onclick: () => copy(text) }, label);
  }

  function fmt(n) {
    return Number(n).toLocaleString('en-US');
  }

  function setCrumbs(...parts) {
    crumbs.replaceChildren();
    parts.forEach((p, i) => {
      if (i) crumbs.append(h('span', { class: 'sep' }, '/'));
      crumbs.append(p);
    });
  }

  function render(...nodes) {
    main.replaceChildren(...nodes);
  }

  // ---- sign-in ----

  function showLogin(message) {
    for (const f of cleanup) f();
    cleanup = [];
    csrf = '';
    signout.hidden = true;
    signoutAll.hidden = true;
    setCrumbs();
    const err = h('div', { class: 'form-error', id: 'login-error' }, message && message !== 'sign in to use the console' ? message : '');
    const pw = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true, autofocus: true });
    const form = h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const res = await api('POST', '/login', { password: pw.value });
        csrf = res.csrf_token;
        signout.hidden = false;
        signoutAll.hidden = false;
        route();
      } catch (e2) {
        err.textContent = e2.message;
        pw.select();
      }
    } },
      h('h1', {}, 'Sign in'),
      h('p', { class: 'muted' }, 'Enter the admin password of this Pixiu server.'),
      h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), pw),
      err,
      h('button', { type: 'submit', id: 'signin' }, 'Sign in'),
      h('p', { class: 'muted hint', id: 'login-hint' }, 'The password is ', h('code', {}, 'console.password'), ' or ',
        h('code', {}, 'PIXIU_CONSOLE_PASSWORD'), ' when set; otherwise the server printed a generated one in its log on its first start (',
        h('code', {}, 'console: generated the admin password'), '). Lost it? Run ', h('code', {}, 'pixiu console reset-password'), '.'));
    render(h('div', { class: 'login' }, form));
    pw.focus();
  }

  signout.addEventListener('click', async () => {
    try { await api('POST', '/logout'); } catch { /* signed out anyway */ }
    showLogin('Signed out.');
  });

  signoutAll.addEventListener('click', async () => {
    if (!confirm('Sign out every console session, on every node, this one included?')) return;
    try {
      const res = await api('POST', '/logout-everywhere');
      showLogin('Signed out everywhere (' + res.sessions_ended + ' sessions).');
    } catch (e) {
      toast(e.message);
    }
  });

  // ---- router ----

  async function route() {
    for (const f of cleanup) f();
    cleanup = [];
    if (!csrf) return showLogin();
    signout.hidden = false;
    signoutAll.hidden = false;
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    try {
      if (parts[0] === 'apps' && parts[1]) await appPage(parts[1], parts[2] || 'start');
      else await appsPage();
    } catch (e) {
      if (e.status !== 401) render(h('div', { class: 'card' }, h('p', { class: 'form-error' }, e.message), h('a', { href: '#/' }, 'Back to apps')));
    }
  }
  window.addEventListener('hashchange', route);

  // ---- apps list ----

  async function appsPage() {
    setCrumbs(h('span', {}, 'Apps'));
    const { apps } = await api('GET', '/apps');
    const name = h('input', { id: 'new-app-name', placeholder: 'My app', maxlength: 100, 'aria-label': 'New app name' });
    const err = h('div', { class: 'form-error' });
    const create = h('form', { class: 'inline-form', onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const app = await api('POST', '/apps', { name: name.value });
        sessionStorage.setItem('pixiu-created', app.id);
        location.hash = `#/apps/${encodeURIComponent(app.id)}`;
      } catch (e2) {
        err.textContent = e2.fields.name ? `Name ${e2.fields.name}` : e2.message;
      }
    } }, name, h('button', { type: 'submit', id: 'create-app' }, 'Create app'));

    const rows = apps.map((a) => h('tr', { dataset: { app: a.id } },
      h('td', {}, h('a', { href: `#/apps/${encodeURIComponent(a.id)}` }, h('b', {}, a.name || a.id))),
      h('td', { class: 'mono' }, a.id),
      h('td', { class: 'mono' }, a.key),
      h('td', {}, a.enabled ? h('span', { class: 'badge ok' }, 'enabled') : h('span', { class: 'badge off' }, 'disabled'),
        ' ', a.read_only ? h('span', { class: 'badge ro', title: 'Defined in the configuration file' }, 'config') : null),
      h('td', {}, fmt(a.messages_today), a.daily_message_quota ? h('span', { class: 'muted' }, ` / ${fmt(a.daily_message_quota)}`) : null),
      h('td', {}, fmt(a.connections))));
    render(
      h('div', { class: 'page-head' }, h('h1', { class: 'grow' }, 'Apps')),
      h('div', { class: 'card' }, h('h2', {}, 'Create an app'),
        h('p', { class: 'muted' }, 'Pixiu generates the app id, key and secret. You can change the settings afterwards.'),
        create, err),
      h('div', { class: 'card table-card' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'App ID', 'Key', 'Status', 'Messages today', 'Connections'].map((t) => h('th', {}, t)))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No apps yet.'))))));
    name.focus();
  }

  // ---- one app ----

  const TABS = [['start', 'Getting started'], ['debug', 'Debug console'], ['usage', 'Usage'], ['settings', 'Settings']];

  async function appPage(id, tab) {
    const app = await api('GET', `/apps/${encodeURIComponent(id)}`);
    const base = `#/apps/${encodeURIComponent(app.id)}`;
    setCrumbs(h('a', { href: '#/' }, 'Apps'), h('span', {}, app.name));
    const head = h('div', { class: 'page-head' },
      h('h1', {}, app.name),
      app.enabled ? h('span', { class: 'badge ok' }, 'enabled') : h('span', { class: 'badge off' }, 'disabled'),
      app.read_only ? h('span', { class: 'badge ro' }, 'config file · read-only') : null,
      h('span', { class: 'grow' }),
      h('span', { class: 'muted mono' }, `app_id ${app.id}`));
    const tabs = h('nav', { class: 'tabs' }, TABS.map(([t, label]) =>
      h('a', { href: `${base}/${t}`, class: t === tab ? 'active' : '', id: `tab-${t}`, 'aria-current': t === tab ? 'page' : false }, label)));
    const body = h('div', {});
    render(head, tabs, body);
    const pages = { start: startTab, debug: debugTab, usage: usageTab, settings: settingsTab };
    await (pages[tab] || startTab)(app, body);
  }

  // ---- getting started ----

  // snippets fetches the getting-started code (package snippets on the
  // server, the one copy the CLI prints too) for the address this page was
  // reached on: the server's public one, even behind a proxy.
  async function snippets(app) {
    const tls = location.protocol === 'https:';
    const q = new URLSearchParams({ host: location.hostname, port: String(Number(location.port) || (tls ? 443 : 80)), tls: String(tls) });
    const { snippets: list } = await api('GET', `/apps/${encodeURIComponent(app.id)}/snippets?${q}`);
    return Object.fromEntries(list.map((s) => [s.name, s.code]));
  }

  async function startTab(app, body) {
    const created = sessionStorage.getItem('pixiu-created') === app.id;
    sessionStorage.removeItem('pixiu-created');
    const secret = h('span', { class: 'v', id: 'cred-secret' }, '•'.repeat(20));
    let shown = false;
    const reveal = h('button', { class: 'ghost small', type: 'button', onclick: () => {
      shown = !shown;
      secret.textContent = shown ? app.secret : '•'.repeat(20);
      reveal.textContent = shown ? 'Hide' : 'Show';
    } }, 'Show');
    const creds = h('div', { class: 'card' }, h('h2', {}, 'Credentials'),
      h('div', { class: 'creds' },
        h('span', { class: 'muted' }, 'app_id'), h('span', { class: 'v', id: 'cred-id' }, app.id), copyButton(app.id),
        h('span', { class: 'muted' }, 'key'), h('span', { class: 'v', id: 'cred-key' }, app.key), copyButton(app.key),
        h('span', { class: 'muted' }, 'secret'), secret, h('span', {}, reveal, ' ', copyButton(app.secret))),
      h('p', { class: 'muted' }, 'The key is public (browsers use it); keep the secret on your servers.'));

    const code = await snippets(app);
    const pre = h('pre', { id: 'snippet' });
    const copyBtn = h('button', { class: 'ghost small copy', type: 'button' }, 'Copy');
    let current = 'pusher-js';
    copyBtn.addEventListener('click', () => copy(code[current]));
    const seg = h('div', { class: 'seg', role: 'tablist' });
    const show = (name) => {
      current = name;
      pre.textContent = code[name];
      for (const b of seg.children) {
        b.classList.toggle('on', b.textContent === name);
        b.setAttribute('aria-selected', String(b.textContent === name));
      }
    };
    for (const name of Object.keys(code)) seg.append(h('button', { type: 'button', role: 'tab', onclick: () => show(name) }, name));
    show(current);
    // Element.append would show a null as the text "null": only nodes go in.
    if (created) {
      body.append(h('div', { class: 'notice', id: 'created-notice' }, h('b', {}, 'App created. '),
        'Paste a snippet below into your code, then open the ', h('a', { href: `#/apps/${encodeURIComponent(app.id)}/debug` }, 'debug console'),
        ' to watch its events live.'));
    }
    body.append(
      creds,
      h('div', { class: 'card' }, h('h2', {}, 'Getting started'),
        h('p', { class: 'muted' }, 'Subscribe from the browser with pusher-js or Laravel Echo, publish from your server with any Pusher server SDK.'),
        seg, h('div', { class: 'snippet' }, pre, copyBtn)));
  }

  // ---- debug console ----

  const GROUPS = [
    ['connections', 'Connections', ['connection', 'disconnection']],
    ['subscriptions', 'Subscriptions', ['subscribed', 'unsubscribed', 'subscription_count']],
    ['api', 'API messages', ['api_message']],
    ['client', 'Client events', ['client_event']],
    ['presence', 'Presence', ['member_added', 'member_removed']],
    ['channels', 'Channels', ['channel_occupied', 'channel_vacated', 'cache_miss']],
    ['webhooks', 'Webhooks', ['webhook']],
    ['history', 'History', ['history']],
    ['errors', 'Errors', ['error', 'dropped', 'reconnected']],
  ];
  const GROUP_OF = Object.fromEntries(GROUPS.flatMap(([g, , types]) => types.map((t) => [t, g])));
  const LABEL = {
    connection: 'Connection', disconnection: 'Disconnection', subscribed: 'Subscribed', unsubscribed: 'Unsubscribed',
    subscription_count: 'Subscription count', api_message: 'API message', client_event: 'Client event',
    member_added: 'Member added', member_removed: 'Member removed', channel_occupied: 'Occupied',
    channel_vacated: 'Vacated', cache_miss: 'Cache miss', error: 'Error', dropped: 'Dropped', reconnected: 'Reconnected', webhook: 'Webhook',
    history: 'History',
  };
  const MAX_ROWS = 1000;

  function debugTab(app, body) {
    const on = new Set(GROUPS.map(([g]) => g));
    let text = '';
    let paused = false;
    const log = h('div', { class: 'log', id: 'debug-log', 'aria-live': 'off' },
      h('div', { class: 'log-empty' }, 'Waiting for events… connect a client or send an event.'));
    const live = h('span', { class: 'live', id: 'live' }, 'connecting');

    const visible = (row) => on.has(GROUP_OF[row.dataset.type] || 'errors') &&
      (!text || row.textContent.toLowerCase().includes(text));
    const refilter = () => { for (const r of log.querySelectorAll('.log-row')) r.hidden = !visible(r); };
    const chips = GROUPS.map(([g, label]) => {
      const chip = h('button', { type: 'button', class: 'chip on', dataset: { group: g }, 'aria-pressed': 'true' }, label);
      chip.addEventListener('click', () => {
        if (on.has(g)) on.delete(g); else on.add(g);
        chip.classList.toggle('on', on.has(g));
        chip.setAttribute('aria-pressed', String(on.has(g)));
        refilter();
      });
      return chip;
    });
    const search = h('input', { type: 'search', id: 'debug-log-filter', placeholder: 'Filter: channel, event, socket…', 'aria-label': 'Filter' });
    search.addEventListener('input', () => { text = search.value.trim().toLowerCase(); refilter(); });
    // Pause holds new entries back (the newest MAX_ROWS) and Resume shows
    // them: nothing that happened meanwhile is lost from the list.
    let held = [];
    let heldOver = 0;
    const pause = h('button', { type: 'button', class: 'ghost small', id: 'debug-pause', 'aria-pressed': 'false' }, 'Pause');
    const showHeld = () => { pause.textContent = held.length ? `Resume (${fmt(held.length + heldOver)} new)` : 'Resume'; };
    pause.addEventListener('click', () => {
      paused = !paused;
      pause.setAttribute('aria-pressed', String(paused));
      if (paused) return showHeld();
      pause.textContent = 'Pause';
      if (heldOver) {
        add({ type: 'dropped', count: heldOver, time: held[0].time,
          message: 'while paused: only the newest entries were kept' });
      }
      const entries = held;
      held = [];
      heldOver = 0;
      for (const e of entries) add(e);
    });
    const hold = (e) => {
      held.push(e);
      if (held.length > MAX_ROWS) { held.shift(); heldOver++; }
      showHeld();
    };
    const clear = h('button', { type: 'button', class: 'ghost small', onclick: () => {
      log.replaceChildren();
      held = [];
      heldOver = 0;
      if (paused) showHeld();
    } }, 'Clear');

    function add(e) {
      const kv = (k, v) => (v === undefined || v === '' ? null : h('span', { class: 'kv' }, `${k} `, h('b', {}, String(v))));
      const detail = h('div', { class: 'd' },
        kv('channel', e.channel), kv('event', e.event), kv('id', e.id), kv('socket', e.socket_id), kv('user', e.user_id),
        e.type === 'subscription_count' ? kv('count', e.count) : null,
        e.type === 'dropped' ? kv('dropped', e.count) : null,
        kv('status', e.status), kv('reason', e.reason), kv('node', e.node),
        e.size ? kv('size', `${fmt(e.size)} B`) : null,
        e.message ? h('span', {}, e.message) : null,
        e.data ? h('pre', {}, e.data + (e.truncated ? ' …' : '')) : null);
      const t = new Date(e.time);
      const row = h('div', { class: `log-row${e.type === 'error' ? ' error' : ''}`, dataset: { type: e.type } },
        h('span', { class: 't' }, t.toLocaleTimeString('en-GB')),
        h('span', { class: `k k-${e.type}` }, LABEL[e.type] || e.type),
        detail);
      row.hidden = !visible(row);
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
      log.querySelector('.log-empty')?.remove();
      log.append(row);
      while (log.childElementCount > MAX_ROWS) log.firstElementChild.remove();
      if (atBottom) log.scrollTop = log.scrollHeight;
    }

    const es = new EventSource(`/console/api/apps/${encodeURIComponent(app.id)}/stream`);
    // After a broken stream (a server restart, a network drop) the browser
    // reconnects by itself; a row marks the gap, whose entries are not shown.
    let down = false;
    es.onopen = () => {
      live.textContent = 'live';
      live.classList.add('on');
      if (!down) return;
      down = false;
      const gap = { type: 'reconnected', time: new Date().toISOString(),
        message: 'what happened while the stream was down is not shown' };
      if (paused) hold(gap); else add(gap);
    };
    es.onmessage = (m) => { const e = JSON.parse(m.data); if (paused) hold(e); else add(e); };
    es.addEventListener('expired', () => { es.close(); showLogin('Session expired: sign in again.'); });
    es.onerror = () => {
      down = true;
      live.classList.remove('on');
      live.textContent = 'reconnecting';
      if (es.readyState === EventSource.CLOSED) api('GET', '/apps').catch(() => {});
    };
    cleanup.push(() => es.close());

    body.append(h('div', { class: 'debug' },
      h('div', { class: 'card log-card' }, h('div', { class: 'log-tools' },
        h('div', { class: 'row' }, chips), h('div', { class: 'row' }, search, pause, clear, live)), log),
      h('div', {}, eventCreator(app), historyLoader(app, add))));
  }

  // historyLoader loads a channel's kept events (the app's history setting)
  // into the debug list, oldest first, as "History" rows.
  function historyLoader(app, add) {
    const channel = h('input', { id: 'hist-channel', value: 'my-channel', autocomplete: 'off' });
    const result = h('div', { class: 'result', id: 'hist-result' });
    const load = h('button', { type: 'submit', id: 'hist-load', class: 'ghost' }, 'Load history');
    return h('form', { class: 'card', id: 'history-loader', onsubmit: async (e) => {
      e.preventDefault();
      const name = channel.value.trim();
      result.className = 'result';
      result.textContent = '';
      load.disabled = true;
      try {
        const r = await api('GET', `/apps/${encodeURIComponent(app.id)}/history?channel=${encodeURIComponent(name)}`);
        for (const ev of r.events) {
          add({ type: 'history', time: Number(ev.id.split('-')[0]), channel: name, id: ev.id, event: ev.event, user_id: ev.user_id, data: ev.data });
        }
        result.classList.add('ok');
        result.textContent = r.events.length
          ? `Loaded ${r.events.length} kept event${r.events.length === 1 ? '' : 's'} of ${name}${r.more ? ' (the newest ones)' : ''}`
          : `No events kept for ${name}: none was published within its history window`;
      } catch (e2) {
        result.classList.add('bad');
        const fe = Object.entries(e2.fields || {});
        result.textContent = fe.length ? fe.map(([k, v]) => `${k}: ${v}`).join('; ') : `${e2.status || ''} ${e2.message}`.trim();
      } finally {
        load.disabled = false;
      }
    } },
      h('h2', {}, 'Channel history'),
      h('p', { class: 'muted' }, 'Loads the events the channel keeps (the app\'s history setting) into the list.'),
      h('div', { class: 'field' }, h('label', { for: 'hist-channel' }, 'Channel'), channel),
      load, result);
  }

  function eventCreator(app) {
    const channel = h('input', { id: 'ec-channel', value: 'my-channel', list: 'ec-channels', autocomplete: 'off' });
    const list = h('datalist', { id: 'ec-channels' });
    const event = h('input', { id: 'ec-event', value: 'my-event' });
    const data = h('textarea', { id: 'ec-data', rows: 6, spellcheck: 'false' }, '{\n  "message": "hello world"\n}');
    const result = h('div', { class: 'result', id: 'ec-result' });
    const fields = { channel, event, data };
    const send = h('button', { type: 'submit', id: 'ec-send' }, 'Send event');
    api('GET', `/apps/${encodeURIComponent(app.id)}/channels`).then(({ channels }) => {
      list.replaceChildren(...channels.map((c) => h('option', { value: c.name }, `${c.subscription_count} subscribed`)));
    }).catch(() => {});
    const form = h('form', { class: 'card', id: 'event-creator', onsubmit: async (e) => {
      e.preventDefault();
      result.className = 'result';
      result.textContent = '';
      for (const el of Object.values(fields)) el.parentElement.classList.remove('invalid');
      send.disabled = true;
      try {
        await api('POST', `/apps/${encodeURIComponent(app.id)}/events`, { channel: channel.value.trim(), event: event.value.trim(), data: data.value });
        result.classList.add('ok');
        result.textContent = `Sent ${event.value.trim()} to ${channel.value.trim()}`;
      } catch (e2) {
        result.classList.add('bad');
        const fe = Object.entries(e2.fields || {});
        for (const [k] of fe) fields[k]?.parentElement.classList.add('invalid');
        result.textContent = fe.length ? fe.map(([k, v]) => `${k}: ${v}`).join('; ') : `${e2.status || ''} ${e2.message}`.trim();
      } finally {
        send.disabled = false;
      }
    } },
      h('h2', {}, 'Event creator'),
      h('p', { class: 'muted' }, 'Publishes like the REST API: counted and quota-checked.'),
      h('div', { class: 'field' }, h('label', { for: 'ec-channel' }, 'Channel'), channel, list),
      h('div', { class: 'field' }, h('label', { for: 'ec-event' }, 'Event'), event),
      h('div', { class: 'field' }, h('label', { for: 'ec-data' }, 'Data (JSON)'), data),
      send, result);
    return form;
  }

  // ---- usage ----

  async function usageTab(app, body) {
    const box = h('div', {});
    body.append(box);
    const load = async () => {
      const u = await api('GET', `/apps/${encodeURIComponent(app.id)}/usage`);
      box.replaceChildren(usageView(u));
    };
    await load();
    const timer = setInterval(() => load().catch(() => {}), 5000);
    cleanup.push(() => clearInterval(timer));
  }

  function usageView(u) {
    const pct = u.quota ? Math.min(100, (100 * u.messages_today) / u.quota) : 0;
    const bar = h('div', { class: `bar${pct >= 100 ? ' full' : pct >= 80 ? ' warn' : ''}` }, h('i', {}));
    bar.firstChild.style.width = `${u.quota ? pct : 0}%`;
    const stat = (id, n, label, extra) => h('div', { class: 'card stat', id }, h('div', { class: 'n' }, n), h('div', { class: 'l' }, label), extra);
    const max = Math.max(1, ...u.hours.map((x) => x.messages));
    const cols = u.hours.map((x, i) => {
      const bar2 = h('i', {});
      bar2.style.height = `${(100 * x.messages) / max}%`;
      const hr = new Date(x.hour);
      return h('div', { class: `col${i === u.hours.length - 1 ? ' now' : ''}`,
        title: `${hr.toISOString().slice(11, 16)} UTC: ${fmt(x.messages)} messages, peak ${fmt(x.peak_connections)} connections` }, bar2);
    });
    const axis = u.hours.map((x, i) => h('span', {}, i % 6 === 0 || i === u.hours.length - 1 ? new Date(x.hour).toISOString().slice(11, 16) : ''));
    // In a cluster (the Redis engine) every figure counts all nodes; the
    // connections are broken down by node.
    const nodes = Object.entries(u.nodes || {}).sort(([a], [b]) => a.localeCompare(b));
    const byNode = u.cluster_wide
      ? h('div', { class: 'l', id: 'u-nodes' }, nodes.length ? nodes.map(([id, n]) => `${id}: ${fmt(n)}`).join(' · ') : 'no node has any')
      : null;
    return h('div', {},
      h('div', { class: 'grid four' },
        stat('u-messages', fmt(u.messages_today), u.quota ? `messages today of ${fmt(u.quota)} (${pct.toFixed(pct < 10 ? 1 : 0)}%)` : 'messages today · no quota', u.quota ? bar : null),
        stat('u-connections', fmt(u.connections), u.cluster_wide ? 'connections now, all nodes' : 'connections now', byNode),
        stat('u-peak', fmt(u.peak_connections), 'peak connections today'),
        stat('u-limit', u.max_connections ? fmt(u.max_connections) : '∞', 'connection limit')),
      h('div', { class: 'card' }, h('h2', {}, 'Messages, last 24 hours (UTC)'),
        h('div', { class: 'chart', id: 'u-chart' }, cols), h('div', { class: 'axis' }, axis),
        h('p', { class: 'muted' }, 'A message is each REST publish and each delivery to a connection, as Pusher counts them. ',
          'The day resets at 00:00 UTC; figures refresh every few seconds.',
          u.cluster_wide ? ' Messages, connections and peaks count every node of the cluster (tallied through Redis).' : '')));
  }

  // ---- settings ----

  const NUMBERS = [
    ['max_connections', 'Max connections', '0 = unlimited; new connections past it are refused with 4004.'],
    ['max_presence_members', 'Max presence members', 'Per presence channel.'],
    ['max_client_events_per_second', 'Max client events per second', 'Per connection; past it the client gets 4301.'],
    ['daily_message_quota', 'Daily message quota', '0 = unlimited. Past it, REST publishes get 403 until 00:00 UTC.'],
  ];
  const SWITCHES = [
    ['enabled', 'Enabled', 'Disabling closes every connection with 4003.'],
    ['client_events', 'Client events', 'Let clients send client-* events on private and presence channels.'],
    ['user_auth', 'Authorized connections', 'Close (4009) connections that neither sign in nor subscribe to a private or presence channel in time. Sign-in always works.'],
    ['subscription_count', 'Subscription count', 'Send pusher_internal:subscription_count to subscribers.'],
  ];

  function settingsTab(app, body) {
    const ro = app.read_only;
    const inputs = {};
    const errs = {};
    const field = (key, label, control, hint) => {
      errs[key] = h('div', { class: 'err' });
      return h('div', { class: 'field', dataset: { field: key } }, h('label', { for: control.id }, label), control,
        hint ? h('div', { class: 'hint' }, hint) : null, errs[key]);
    };
    inputs.name = h('input', { id: 's-name', value: app.name, maxlength: 100, disabled: ro });
    const switches = SWITCHES.map(([k, label, hint]) => {
      inputs[k] = h('input', { type: 'checkbox', id: `s-${k}`, disabled: ro });
      inputs[k].checked = app[k];
      errs[k] = h('div', { class: 'err' });
      return h('div', { class: 'field' }, h('label', { class: 'check' }, inputs[k], label), h('div', { class: 'hint' }, hint), errs[k]);
    });
    const numbers = NUMBERS.map(([k, label, hint]) => {
      inputs[k] = h('input', { type: 'number', id: `s-${k}`, value: app[k], min: 0, step: 1, disabled: ro });
      return field(k, label, inputs[k], hint);
    });
    inputs.allowed_origins = h('input', { id: 's-allowed_origins', value: (app.allowed_origins || []).join(', '), disabled: ro, spellcheck: 'false' });
    const hist = app.history || {};
    inputs['history.channels'] = h('input', { id: 's-history-channels', value: (hist.channels || []).join(', '), disabled: ro,
      spellcheck: 'false', placeholder: 'price-, private-orders-' });
    inputs['history.max_events'] = h('input', { type: 'number', id: 's-history-max_events', value: hist.max_events, min: 1, step: 1, disabled: ro });
    inputs['history.max_age_seconds'] = h('input', { type: 'number', id: 's-history-max_age_seconds', value: hist.max_age_seconds, min: 1, step: 1, disabled: ro });
    inputs.webhooks = h('textarea', { id: 's-webhooks', rows: 5, disabled: ro, spellcheck: 'false' }, JSON.stringify(app.webhooks || [], null, 2));
    const formErr = h('div', { class: 'form-error', id: 's-error' });
    const save = h('button', { type: 'submit', id: 's-save', disabled: ro }, 'Save settings');
    // novalidate: the server checks every field and says what is wrong.
    const form = h('form', { class: 'card', id: 'settings', novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      formErr.textContent = '';
      for (const [k, el] of Object.entries(errs)) { el.textContent = ''; el.parentElement.classList.remove('invalid'); void k; }
      const body2 = { name: inputs.name.value };
      for (const [k] of SWITCHES) body2[k] = inputs[k].checked;
      for (const [k] of NUMBERS) body2[k] = inputs[k].value === '' ? null : Number(inputs[k].value);
      body2.allowed_origins = inputs.allowed_origins.value.split(/[\s,]+/).filter((o) => o !== '');
      const num = (el) => (el.value === '' ? undefined : Number(el.value));
      body2.history = {
        channels: inputs['history.channels'].value.split(/[\s,]+/).filter((p) => p !== ''),
        max_events: num(inputs['history.max_events']),
        max_age_seconds: num(inputs['history.max_age_seconds']),
      };
      try {
        body2.webhooks = JSON.parse(inputs.webhooks.value || '[]');
      } catch {
        errs.webhooks.textContent = 'must be a JSON list of endpoints';
        errs.webhooks.parentElement.classList.add('invalid');
        return;
      }
      for (const k of Object.keys(body2)) if (body2[k] === null) delete body2[k];
      try {
        await api('PATCH', `/apps/${encodeURIComponent(app.id)}`, body2);
        toast('Settings saved');
        route();
      } catch (e2) {
        formErr.textContent = e2.message;
        for (const [k, v] of Object.entries(e2.fields)) {
          const key = k.startsWith('webhooks') ? 'webhooks' : k === 'history' ? 'history.channels' : k;
          if (errs[key]) {
            errs[key].textContent += (errs[key].textContent ? '; ' : '') + (key === k ? v : `${k}: ${v}`);
            errs[key].parentElement.classList.add('invalid');
          }
        }
      }
    } },
      h('h2', {}, 'Settings'),
      ro ? h('div', { class: 'notice warn' }, 'This app is defined in the configuration file: change it there.') : null,
      h('div', { class: 'grid two' },
        h('div', {}, field('name', 'Name', inputs.name), switches),
        h('div', {}, numbers)),
      field('allowed_origins', 'Allowed origins', inputs.allowed_origins,
        'Browser origins that may connect, comma-separated: https://app.example.com, https://*.example.com. Empty = any; others are closed with 4009.'),
      h('h3', {}, 'Channel history'),
      field('history.channels', 'Channels that keep their events', inputs['history.channels'],
        'Channel name prefixes, comma-separated, or * for every channel; empty = off. Load history in the debug console, the REST history endpoint and the recovery script read them.'),
      h('div', { class: 'grid two' },
        field('history.max_events', 'Events kept per channel', inputs['history.max_events'], '1 to 10,000.'),
        field('history.max_age_seconds', 'Kept for (seconds)', inputs['history.max_age_seconds'], '1 s to 7 days (604,800 s).')),
      field('webhooks', 'Webhooks', inputs.webhooks,
        'JSON list: [{"url": "https://…", "events": ["channel_occupied"], "channel_prefix": "", "headers": {}}]'),
      save, formErr);
    body.append(form);
    if (!ro) body.append(dangerZone(app));
  }

  // armed returns a button that needs a second click within 4 s.
  function armed(label, confirmLabel, id, action) {
    const b = h('button', { type: 'button', class: 'danger', id }, label);
    let timer;
    b.addEventListener('click', async () => {
      if (!b.classList.contains('armed')) {
        b.classList.add('armed');
        b.textContent = confirmLabel;
        timer = setTimeout(() => { b.classList.remove('armed'); b.textContent = label; }, 4000);
        return;
      }
      clearTimeout(timer);
      b.disabled = true;
      try { await action(); } catch (e) { toast(e.message); } finally { b.disabled = false; b.classList.remove('armed'); b.textContent = label; }
    });
    return b;
  }

  function dangerZone(app) {
    const id = encodeURIComponent(app.id);
    return h('div', { class: 'card' }, h('h2', {}, 'Danger zone'),
      h('div', { class: 'field' },
        armed('Rotate secret', 'Click again: old secret stops working', 'rotate-secret', async () => {
          await api('POST', `/apps/${id}/rotate-secret`);
          toast('Secret rotated');
          location.hash = `#/apps/${id}/start`;
        }),
        h('div', { class: 'hint' }, 'Generates a new secret. Servers signing with the old one are refused at once.')),
      h('div', { class: 'field' },
        armed('Delete app', 'Click again to delete for good', 'delete-app', async () => {
          await api('DELETE', `/apps/${id}`);
          toast('App deleted');
          location.hash = '#/';
        }),
        h('div', { class: 'hint' }, 'Closes its connections (4001) and deletes its usage history.')));
  }

  route();
})();
