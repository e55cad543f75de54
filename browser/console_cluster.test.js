'use strict';
// The console sees the whole cluster (issue 14): two pixiu nodes on the
// shared Redis (127.0.0.1:6379, a key prefix of this test's own), the
// console open on node A in a real Chromium, pusher-js clients (in Chromium
// too) connected to node B, and a REST publish to node B with the official
// Node SDK. The debug stream on A shows B's connection, subscription and API
// message, each naming node-b; A's usage page counts B's connections, by
// node, and the messages B counted.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const Pusher = require('pusher');
const { startServer, launchChromium, watchPage, outputPath, waitFor } = require('./lib');

const PASSWORD = 'browser-cluster-password';
const REDIS = { host: '127.0.0.1', port: '6379' };
const APP = { id: 'cluster-app', key: 'cluster-key', secret: 'cluster-secret' };
const PUSHER_JS = require.resolve('pusher-js/dist/web/pusher.min.js');

// redisCli runs redis-cli against the shared Redis and returns its output.
function redisCli(...args) {
  return execFileSync('redis-cli', ['-h', REDIS.host, '-p', REDIS.port, ...args], { encoding: 'utf8', timeout: 10000 });
}

// deletePrefix deletes every key under prefix (SCAN, then DEL in batches).
function deletePrefix(prefix) {
  const keys = redisCli('--scan', '--pattern', `${prefix}*`).split('\n').filter(Boolean);
  for (let i = 0; i < keys.length; i += 100) redisCli('DEL', ...keys.slice(i, i + 100));
  return keys.length;
}

const config = (node, prefix) => `
apps:
  - id: ${APP.id}
    key: ${APP.key}
    secret: ${APP.secret}
    name: Cluster app
cluster:
  redis: redis://${REDIS.host}:${REDIS.port}/0
  node_id: ${node}
  key_prefix: "${prefix}"
  drain_window: 100ms
`;

test('console: the debug stream and usage of node A show node B', async (t) => {
  let pong;
  try {
    pong = redisCli('PING').trim();
  } catch (err) {
    throw new Error(`this test needs Redis at ${REDIS.host}:${REDIS.port} and redis-cli: ${err.message}`);
  }
  assert.equal(pong, 'PONG', `Redis at ${REDIS.host}:${REDIS.port} answered ${pong}`);
  const prefix = `pixiutest:browser:${crypto.randomBytes(4).toString('hex')}:`;
  const nodes = [];
  t.after(async () => {
    // Stop the nodes first (stop is idempotent), so that none writes again.
    for (const n of nodes) await n.stop();
    deletePrefix(prefix);
    assert.equal(redisCli('--scan', '--pattern', `${prefix}*`).trim(), '', 'the test left keys under its prefix');
  });

  const env = { PIXIU_CONSOLE_PASSWORD: PASSWORD };
  const a = await startServer({ t, config: config('node-a', prefix), args: ['--demo=false'], env });
  nodes.push(a);
  const b = await startServer({ t, config: config('node-b', prefix), args: ['--demo=false'], env });
  nodes.push(b);
  const browser = await launchChromium({ t });
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  const problems = watchPage(page, 'console');
  const log = page.locator('#debug-log');
  const row = (type, ...texts) => texts.reduce((l, text) => l.filter({ hasText: text }), log.locator(`.log-row[data-type="${type}"]`));
  const rest = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(b.port), useTLS: false });

  try {
    // Sign in on node A and open the app's debug console.
    await page.goto(`${a.url}/console`);
    await page.fill('#password', PASSWORD);
    await page.click('#signin');
    await page.locator(`tr[data-app="${APP.id}"]`).waitFor();
    await page.goto(`${a.url}/console#/apps/${APP.id}/debug`);
    await page.locator('#live.on').waitFor({ timeout: 10000 });

    // A's interest reaches B within about two seconds: publish to B until
    // its API message shows on A.
    await waitFor(async () => {
      await rest.trigger('probe', 'probe', { n: 1 });
      return (await row('api_message', 'probe', 'node-b').count()) > 0;
    }, { timeout: 20000, interval: 500, message: "node B's API message on node A's debug console" });

    // Two pusher-js clients connect to node B and subscribe.
    const client = await context.newPage();
    problems.push(...watchPage(client, 'client'));
    await client.goto(`${b.url}/`);
    await client.addScriptTag({ path: PUSHER_JS });
    const sockets = await client.evaluate(({ key, port }) => Promise.all([0, 1].map(() => new Promise((resolve, reject) => {
      window.received = window.received || [];
      const pusher = new window.Pusher(key, {
        cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'],
      });
      const ch = pusher.subscribe('orders');
      ch.bind('order-placed', (d) => window.received.push(d));
      ch.bind('pusher:subscription_succeeded', () => resolve(pusher.connection.socket_id));
      ch.bind('pusher:subscription_error', reject);
    }))), { key: APP.key, port: b.port });
    for (const id of sockets) {
      await row('connection', id, 'node-b').waitFor();
      await row('subscribed', 'orders', id, 'node-b').waitFor();
    }
    await row('channel_occupied', 'orders', 'node-b').waitFor();

    // A REST publish to node B with the Node SDK shows on A, from node-b.
    const res = await rest.trigger('orders', 'order-placed', { order: 7, total: 12.5 });
    assert.equal(res.status, 200);
    await row('api_message', 'order-placed', 'node-b').waitFor();
    await waitFor(() => client.evaluate(() => window.received.length === 2), { message: 'both clients got the event' });
    await page.screenshot({ path: outputPath('console-cluster-debug.png') });

    // A's usage page counts B's connections, by node, and B's messages
    // (probes, the publish and its two deliveries; exchanged within 5 s).
    await page.click('#tab-usage');
    const text = (sel) => page.locator(sel).textContent().then((s) => s.trim());
    await waitFor(async () => (await text('#u-connections .n')) === '2' && (await text('#u-nodes')) === 'node-b: 2',
      { timeout: 15000, interval: 250, message: "node A's usage counts node B's 2 connections" });
    assert.match(await text('#u-connections .l:not(#u-nodes)'), /all nodes/);
    assert.ok(Number((await text('#u-peak .n')).replace(/,/g, '')) >= 2, 'peak connections today ≥ 2');
    await waitFor(async () => Number((await text('#u-messages .n')).replace(/,/g, '')) >= 4,
      { timeout: 20000, interval: 250, message: "node A's messages today count node B's" });
    await page.screenshot({ path: outputPath('console-cluster-usage.png') });

    assert.deepEqual(problems, []);
  } catch (err) {
    await page.screenshot({ path: outputPath('console-cluster-failure.png') }).catch(() => {});
    err.message += `\n--- node A output ---\n${a.logs()}\n--- node B output ---\n${b.logs()}`;
    throw err;
  }
});
