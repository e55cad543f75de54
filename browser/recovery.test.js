'use strict';
// The recovery script (/pixiu/recovery.js) in a real browser with stock
// pusher-js: the page's connection goes through a TCP proxy the test breaks;
// events published meanwhile reach the page's bind callbacks after it is
// back, in order, exactly once, before newer ones. Past the kept window the
// channel gets pixiu:recovery_failed.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer, launchChromium, watchPage } = require('./lib');
const { startProxy } = require('./tcpproxy');

const APP = { id: 'rec-app', key: 'rec-key', secret: 'rec-secret' };
const CONFIG = `
apps:
  - id: ${APP.id}
    key: ${APP.key}
    secret: ${APP.secret}
    name: Recovery test app
    history:
      channels: ["hist-"]
      max_events: 8
demo_app_id: ${APP.id}
cluster:
  drain_window: 100ms
`;

// trigger publishes through the signed REST API (protocol.md §6.2).
async function trigger(server, channel, event, data) {
  const body = JSON.stringify({ name: event, channels: [channel], data: JSON.stringify(data) });
  const p = `/apps/${APP.id}/events`;
  const params = {
    auth_key: APP.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0',
    body_md5: crypto.createHash('md5').update(body).digest('hex'),
  };
  const qs = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const sig = crypto.createHmac('sha256', APP.secret).update(`POST\n${p}\n${qs}`).digest('hex');
  const res = await fetch(`${server.url}${p}?${qs}&auth_signature=${sig}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
  });
  assert.equal(res.status, 200, await res.text());
}

async function until(page, fn, arg, what) {
  await page.waitForFunction(fn, arg, { timeout: 20000 }).catch((err) => {
    throw new Error(`${what}: ${err.message}`);
  });
}

test('recovery: events published while the connection is broken arrive once, in order, before new ones', async (t) => {
  const server = await startServer({ t, config: CONFIG });
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const browser = await launchChromium({ t });
  const page = await browser.newPage();
  const problems = watchPage(page, 'recovery');

  await page.goto(`${server.url}/`);
  await page.addScriptTag({ url: `${server.url}/demo/vendor/pusher.min.js` });
  const js = await fetch(`${server.url}/pixiu/recovery.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  await page.addScriptTag({ url: `${server.url}/pixiu/recovery.js` });
  await page.evaluate(({ key, port }) => {
    window.got = [];
    window.failed = [];
    const pusher = PixiuRecovery.wrap(new Pusher(key, {
      wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], cluster: '',
    }));
    window.pusher = pusher;
    for (const name of ['hist-a', 'hist-b']) {
      const ch = pusher.subscribe(name);
      ch.bind('pusher:subscription_succeeded', () => { window['subscribed_' + name] = (window['subscribed_' + name] || 0) + 1; });
      ch.bind('e', (data) => window.got.push(name + ':' + data.n));
      ch.bind('pixiu:recovery_failed', (data) => window.failed.push(name + ':' + data.reason));
    }
  }, { key: APP.key, port: proxy.port });
  await until(page, () => window['subscribed_hist-a'] === 1 && window['subscribed_hist-b'] === 1, null, 'first subscriptions');

  await trigger(server, 'hist-a', 'e', { n: 1 });
  await trigger(server, 'hist-a', 'e', { n: 2 });
  await until(page, () => window.got.length === 2, null, 'live events');

  // Broken: a -> 3 events (recovered), b -> 9 events (more than the 8 kept: failed).
  proxy.break();
  await until(page, () => window.pusher.connection.state !== 'connected', null, 'the page notices the break');
  for (let n = 3; n <= 5; n++) await trigger(server, 'hist-a', 'e', { n });
  for (let n = 1; n <= 9; n++) await trigger(server, 'hist-b', 'e', { n });
  proxy.restore();

  await until(page, () => window['subscribed_hist-a'] === 2 && window.got.length >= 5 && window.failed.length === 1, null, 'recovery after the reconnect');
  await trigger(server, 'hist-a', 'e', { n: 6 });
  await until(page, () => window.got.length >= 6, null, 'a live event after recovery');

  const got = await page.evaluate(() => window.got);
  const failed = await page.evaluate(() => window.failed);
  assert.deepEqual(got, ['hist-a:1', 'hist-a:2', 'hist-a:3', 'hist-a:4', 'hist-a:5', 'hist-a:6'],
    'missed events once each, in order, before the new one');
  assert.deepEqual(failed, ['hist-b:gone'], 'hist-b missed more than it keeps');
  // The broken connection's handshake errors are expected (and the home
  // page's missing favicon); nothing else may go wrong on the page.
  const unexpected = problems.filter((p) => !/WebSocket connection to .* failed/.test(p) && !/favicon|status of 404/.test(p));
  assert.deepEqual(unexpected, []);
});
