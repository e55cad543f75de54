'use strict';
// The web console end to end in a real browser: sign in, create an app, open
// its debug console, send an event from the event creator and see it both in
// the debug console and in a pusher-js client subscribed with the new app's
// key; then set a small daily quota and see the 403 in the console.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { REPO_ROOT, startServer, launchChromium, watchPage, outputPath, waitFor } = require('./lib');

const PASSWORD = 'browser-console-password';
const CONFIG = `
apps:
  - id: config-app
    key: config-key
    secret: config-secret
    name: Configured app
cluster:
  drain_window: 100ms
`;
const PUSHER_JS = require.resolve('pusher-js/dist/web/pusher.min.js');

// publish sends a signed REST publish (protocol.md §6.2) and returns the response.
async function publish(url, app, channel, event, data) {
  const body = JSON.stringify({ name: event, channel, data });
  const q = {
    auth_key: app.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0',
    body_md5: crypto.createHash('md5').update(body).digest('hex'),
  };
  const qs = Object.keys(q).sort().map((k) => `${k}=${q[k]}`).join('&');
  const pathname = `/apps/${app.id}/events`;
  const sig = crypto.createHmac('sha256', app.secret).update(`POST\n${pathname}\n${qs}`).digest('hex');
  const res = await fetch(`${url}${pathname}?${qs}&auth_signature=${sig}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
  });
  return { status: res.status, text: await res.text() };
}

// Failed fetches (the wrong password, the bad setting, the 403) are expected; anything else the
// page logs as an error is a bug (a CSP violation shows up there too).
const unexpected = (problems) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (400|401|403)/.test(p));

test('console: sign in, create an app, debug console, event creator, quota', async (t) => {
  const server = await startServer({ t, config: CONFIG, args: ['--demo=false'], env: { PIXIU_CONSOLE_PASSWORD: PASSWORD } });
  const browser = await launchChromium({ t });
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  const problems = watchPage(page, 'console');
  const log = page.locator('#debug-log');
  const row = (type, text) => log.locator(`.log-row[data-type="${type}"]`, { hasText: text });

  try {
    // Sign in: a wrong password is refused with a clear message.
    await page.goto(`${server.url}/console`);
    await page.fill('#password', 'not the password');
    await page.click('#signin');
    await page.locator('#login-error', { hasText: 'wrong password' }).waitFor();
    await page.fill('#password', PASSWORD);
    await page.click('#signin');
    await page.locator('tr[data-app="config-app"]', { hasText: 'config' }).waitFor();

    // Create an app: its credentials and snippets are shown.
    await page.fill('#new-app-name', 'Browser app');
    await page.click('#create-app');
    await page.locator('#cred-key').waitFor();
    await page.screenshot({ path: outputPath('console-start.png') });
    const app = {
      id: (await page.locator('#cred-id').textContent()).trim(),
      key: (await page.locator('#cred-key').textContent()).trim(),
    };
    assert.match(app.id, /^\d{7}$/);
    assert.match(app.key, /^[0-9a-f]{20}$/);
    await page.getByRole('button', { name: 'Show' }).click();
    app.secret = (await page.locator('#cred-secret').textContent()).trim();
    assert.match(app.secret, /^[0-9a-f]{20}$/);
    assert.match(await page.locator('#snippet').textContent(), new RegExp(`new Pusher\\('${app.key}'`));
    // Every tab carries the app's keys and the address this page was served on.
    const tabs = [
      ['Node', [`secret: '${app.secret}'`, "host: '127.0.0.1'", `port: '${server.port}'`, 'useTLS: false']],
      ['Go', [`AppID:  "${app.id}"`, `Host:   "127.0.0.1:${server.port}"`]],
      ['PHP', [`new Pusher\\Pusher('${app.key}', '${app.secret}', '${app.id}', [`, "'host' => '127.0.0.1'",
        `'port' => ${server.port},`, "'scheme' => 'http'", "'useTLS' => false"]],
      ['Laravel', [`PUSHER_APP_ID=${app.id}\n`, `PUSHER_APP_KEY=${app.key}\n`, `PUSHER_APP_SECRET=${app.secret}\n`,
        'PUSHER_HOST=127.0.0.1\n', `PUSHER_PORT=${server.port}\n`, 'PUSHER_SCHEME=http\n', "'driver' => 'pusher'",
        "broadcaster: 'pusher'", 'key: import.meta.env.VITE_PUSHER_APP_KEY']],
      ['Ruby', [`Pusher.key = '${app.key}'`, `Pusher.port = ${server.port}`]],
    ];
    assert.deepEqual(await page.locator('.seg button').allTextContents(), ['pusher-js', 'Node', 'Go', 'PHP', 'Laravel', 'Ruby']);
    for (const [tab, wants] of tabs) {
      await page.locator('.seg button', { hasText: tab }).click();
      const code = await page.locator('#snippet').textContent();
      for (const want of wants) assert.ok(code.includes(want), `${tab} snippet lacks ${want}:\n${code}`);
    }
    await page.locator('.seg button', { hasText: 'Laravel' }).click();
    await page.screenshot({ path: outputPath('console-laravel.png') });

    // Open its debug console.
    await page.click('#tab-debug');
    await page.locator('#live.on').waitFor({ timeout: 10000 });

    // A pusher-js client subscribes with the new app's key.
    const client = await context.newPage();
    problems.push(...watchPage(client, 'client'));
    await client.goto(`${server.url}/`);
    await client.addScriptTag({ path: PUSHER_JS });
    await client.evaluate(({ key, port }) => new Promise((resolve, reject) => {
      window.received = [];
      const pusher = new window.Pusher(key, {
        cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'],
      });
      pusher.subscribe('orders');
      const ch = pusher.subscribe('my-channel');
      ch.bind('my-event', (d) => window.received.push(d));
      ch.bind('pusher:subscription_succeeded', resolve);
      ch.bind('pusher:subscription_error', reject);
    }), { key: app.key, port: server.port });
    await row('connection').waitFor();
    await row('subscribed', 'my-channel').waitFor();

    // Send an event from the event creator.
    await page.fill('#ec-channel', 'my-channel');
    await page.fill('#ec-event', 'my-event');
    await page.fill('#ec-data', '{"message":"hello from the console"}');
    await page.click('#ec-send');
    await page.locator('#ec-result.ok', { hasText: 'Sent my-event to my-channel' }).waitFor();
    await row('api_message', 'hello from the console').waitFor();
    const got = await waitFor(() => client.evaluate(() => window.received[0]), { timeout: 5000, message: 'pusher-js got the event' });
    assert.deepEqual(got, { message: 'hello from the console' });

    // One more from the server side, for the picture.
    const ok = await publish(server.url, app, 'my-channel', 'my-event', JSON.stringify({ order: 1042, total: 99.5 }));
    assert.equal(ok.status, 200, ok.text);
    await row('api_message', '1042').waitFor();
    await waitFor(() => client.evaluate(() => window.received.length === 2), { message: 'second event at the client' });
    const shipped = await publish(server.url, app, 'orders', 'order-shipped', JSON.stringify({ order: 1042, carrier: 'DHL' }));
    assert.equal(shipped.status, 200, shipped.text);
    await row('api_message', 'order-shipped').waitFor();
    await page.screenshot({ path: outputPath('console-debug.png') });

    // Load history: the new app keeps none, and the console says so (a 404).
    await page.fill('#hist-channel', 'my-channel');
    await page.click('#hist-load');
    await page.locator('#hist-result.bad', { hasText: 'history is off for channel my-channel' }).waitFor();

    // A small quota: 3 publishes + 3 deliveries are already counted today.
    await page.click('#tab-settings');
    await page.fill('#s-daily_message_quota', '6');
    await page.fill('#s-max_connections', '-3');
    await page.click('#s-save');
    await page.locator('[data-field="max_connections"] .err', { hasText: 'must be between' }).waitFor();
    await page.fill('#s-max_connections', '0');
    await page.click('#s-save');
    await page.locator('#toast', { hasText: 'Settings saved' }).waitFor();

    await page.click('#tab-debug');
    await page.locator('#live.on').waitFor({ timeout: 10000 });
    await page.fill('#ec-data', '{"message":"one too many"}');
    await page.click('#ec-send');
    await page.locator('#ec-result.bad', { hasText: '403 Over quota' }).waitFor();
    await row('error', 'Over quota').waitFor();
    const refused = await publish(server.url, app, 'my-channel', 'my-event', '{}');
    assert.equal(refused.status, 403);
    assert.match(refused.text, /Over quota/);
    await row('error', `POST /apps/${app.id}/events: Over quota`).waitFor();
    assert.equal(await client.evaluate(() => window.received.length), 2, 'refused events never reach clients');

    // The filter hides what is not asked for.
    await page.locator('.chip[data-group="errors"]').click();
    assert.equal(await row('error').first().isVisible(), false);
    await page.locator('.chip[data-group="errors"]').click();
    await page.screenshot({ path: outputPath('console.png') });

    // Usage: messages today against the quota.
    await page.click('#tab-usage');
    await page.locator('#u-messages', { hasText: 'of 6' }).waitFor();
    assert.equal((await page.locator('#u-connections .n').textContent()).trim(), '1');
    assert.equal(await page.locator('#u-chart .col').count(), 24);
    await page.screenshot({ path: outputPath('console-usage.png') });

    // Sign out: the console asks for the password again.
    await page.click('#signout');
    await page.locator('#password').waitFor();

    // Sign out everywhere (after a confirmation) ends this session too.
    await page.fill('#password', PASSWORD);
    await page.click('#signin');
    await page.locator('#signout-all').waitFor();
    page.once('dialog', (d) => d.accept());
    await page.click('#signout-all');
    await page.locator('#login-error', { hasText: 'Signed out everywhere' }).waitFor();
    // The one 404 the browser logs is the answer to Load history above.
    assert.deepEqual(unexpected(problems),
      ['console: console error: Failed to load resource: the server responded with a status of 404 (Not Found)']);
  } catch (err) {
    await page.screenshot({ path: outputPath('console-failure.png') }).catch(() => {});
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }

  // The README's screenshot is refreshed on request only, so a test run
  // leaves the checkout clean: PIXIU_UPDATE_SCREENSHOTS=1 npm run test:browser.
  if (process.env.PIXIU_UPDATE_SCREENSHOTS === '1') {
    const docs = path.join(REPO_ROOT, 'docs', 'screenshots');
    fs.mkdirSync(docs, { recursive: true });
    fs.copyFileSync(outputPath('console-debug.png'), path.join(docs, 'console.png'));
  }
});
