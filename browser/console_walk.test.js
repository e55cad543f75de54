'use strict';
// The console as a first-time user meets it: `pixiu serve` with default
// settings, started from a directory that is not the checkout, no password
// configured. The password comes from the log, as the sign-in page says;
// the home page, the demo and the console load without errors or 404s; the
// Getting started tab of an app that was not just created, the copy buttons
// on a console reached over plain http by a host name (no navigator.clipboard
// there), the channel history settings, the debug console's pause and its
// return after a network drop, every page at a phone's width, and the demo
// once the development app is gone.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, launchChromium, watchPage, outputPath, waitFor } = require('./lib');
const { startProxy } = require('./tcpproxy');

// HOST is a name Chromium resolves to 127.0.0.1 (--host-resolver-rules): a
// page served from it over http is not a secure context, as a console opened
// on a LAN address or a container's name is not.
const HOST = 'pixiu-console.test';

// save clicks Save settings and waits for the answer: 200 and the toast.
async function save(page) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'PATCH'),
    page.click('#s-save'),
  ]);
  assert.equal(res.status(), 200, await res.text());
  await page.locator('#toast', { hasText: 'Settings saved' }).waitFor();
}

// fits reports the page's width and the viewport's: nothing may be wider.
const fits = (page) => page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);

test('console walk: fresh install from another directory, copy over plain http, history settings, phone width', async (t) => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'pixiu-elsewhere-'));
  t.after(() => fs.rmSync(cwd, { recursive: true, force: true }));
  const env = { PIXIU_CONSOLE_PASSWORD: '' };
  const server = await startServer({ t, cwd, env });
  // The console goes through a TCP proxy the test can break (a network drop).
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const browser = await launchChromium({ t, args: [`--host-resolver-rules=MAP ${HOST} 127.0.0.1`] });
  const origin = `http://${HOST}:${proxy.port}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const failed = [];
  let dropping = false; // while the proxy is broken, failed requests are expected
  context.on('requestfailed', (r) => {
    if (!dropping && !/\/stream$/.test(r.url())) failed.push(`${r.url()}: ${r.failure().errorText}`);
  });
  context.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  const page = await context.newPage();
  const problems = watchPage(page, 'console');

  try {
    // The password is printed once in the log.
    const password = await waitFor(() => /generated the admin password.*password=(\S+)/.exec(server.logs())?.[1],
      { message: 'the generated password in the log' });

    // The home page links to the console and loads without a 404 (its icon).
    await page.goto(`${server.url}/`);
    await page.locator('#console-link').click();
    await page.locator('#password').waitFor();
    assert.match(await page.locator('#login-hint').textContent(),
      /printed a generated one in its log.*console: generated the admin password.*pixiu console reset-password/);

    // The demo works from here too: pusher-js is the binary's own.
    const market = await context.newPage();
    problems.push(...watchPage(market, 'market'));
    await market.goto(`${server.url}/demo/market`);
    await market.locator('#market[data-subscribed="true"]').waitFor({ timeout: 10000 });
    await market.close();

    // Sign in on the host name (plain http, not a secure context).
    await page.goto(`${origin}/console/`);
    assert.equal(await page.evaluate(() => window.isSecureContext), false);
    await page.fill('#password', password);
    await page.click('#signin');
    await page.locator('tr[data-app="app-id"]').waitFor();

    // The development app's Getting started tab (not just created): the
    // credentials card comes first, no stray text before it.
    await page.goto(`${origin}/console/#/apps/app-id/start`);
    await page.locator('#snippet').waitFor();
    const tab = await page.locator('main > div:last-child').evaluate((el) => el.firstChild.nodeType === 1 && el.firstElementChild.textContent);
    assert.match(tab || '', /^Credentials/, 'the tab starts with the credentials');
    assert.doesNotMatch(await page.locator('main').innerText(), /\bnull\b/);

    // Copy buttons copy here too; a page on 127.0.0.1 reads the clipboard back.
    const reader = await context.newPage();
    await reader.goto(`${server.url}/`);
    await page.bringToFront();
    const clipboard = () => reader.evaluate(() => navigator.clipboard.readText());
    await page.locator('.creds button.copy').nth(1).click();
    await page.locator('#toast', { hasText: 'Copied' }).waitFor();
    await waitFor(async () => (await clipboard()) === 'app-key', { message: 'the key on the clipboard' });
    await page.locator('.seg button', { hasText: 'Node' }).click();
    assert.deepEqual(await page.getByRole('tab', { selected: true }).allTextContents(), ['Node']);
    const node = await page.locator('#snippet').textContent();
    assert.match(node, new RegExp(`host: '${HOST}'`));
    await page.locator('.snippet button.copy').click();
    await waitFor(async () => (await clipboard()) === node, { message: 'the Node snippet on the clipboard' });
    await reader.close();

    // Channel history from the settings: bad values are named, good ones
    // persist, and the debug console loads what the channel kept.
    await page.goto(`${origin}/console/#/apps/app-id/settings`);
    await page.locator('#s-save').waitFor();
    assert.equal(await page.inputValue('#s-history-channels'), '');
    await page.fill('#s-history-channels', 'news-');
    await page.fill('#s-history-max_events', '0');
    await page.click('#s-save');
    await page.locator('[data-field="history.max_events"] .err', { hasText: 'must be between 1 and 10000' }).waitFor();
    await page.fill('#s-history-max_events', '5');
    await page.fill('#s-history-max_age_seconds', '600');
    await save(page);
    await page.reload();
    await page.locator('#s-save').waitFor();
    assert.deepEqual([await page.inputValue('#s-history-channels'), await page.inputValue('#s-history-max_events'),
      await page.inputValue('#s-history-max_age_seconds')], ['news-', '5', '600']);

    await page.click('#tab-debug');
    await page.locator('#live.on').waitFor({ timeout: 10000 });
    await page.fill('#ec-channel', 'news-today');
    await page.fill('#ec-data', '{"headline": "<b>kept</b>"}');
    await page.click('#ec-send');
    await page.locator('#ec-result.ok').waitFor();
    await page.fill('#ec-data', '{not json');
    await page.click('#ec-send');
    await page.locator('#ec-result.bad', { hasText: 'data: must be valid JSON' }).waitFor();
    await page.fill('#hist-channel', 'news-today');
    await page.click('#hist-load');
    await page.locator('#hist-result.ok', { hasText: 'Loaded 1 kept event of news-today' }).waitFor();
    await page.locator('.log-row[data-type="history"]', { hasText: '"headline": "<b>kept</b>"' }).waitFor();
    assert.equal(await page.locator('#debug-log b:text-is("kept")').count(), 0, 'event data is text, not markup');

    // Pause holds what happens meanwhile; Resume shows it.
    await page.click('#debug-pause');
    await page.fill('#ec-channel', 'while-paused');
    await page.fill('#ec-data', '{"n": 1}');
    await page.click('#ec-send');
    await page.locator('#debug-pause', { hasText: 'Resume (1 new)' }).waitFor();
    assert.equal(await page.locator('.log-row', { hasText: 'while-paused' }).count(), 0, 'nothing added while paused');
    await page.click('#debug-pause');
    await page.locator('.log-row[data-type="api_message"]', { hasText: 'while-paused' }).waitFor();
    assert.equal(await page.locator('#debug-pause').textContent(), 'Pause');
    // Screen readers learn which tab is open and which filters are on.
    assert.equal(await page.locator('#tab-debug').getAttribute('aria-current'), 'page');
    assert.equal(await page.locator('#tab-start').getAttribute('aria-current'), null);
    const chip = page.locator('.chip[data-group="webhooks"]');
    assert.equal(await chip.getAttribute('aria-pressed'), 'true');
    await chip.click();
    assert.equal(await chip.getAttribute('aria-pressed'), 'false');
    await chip.click();

    // A network drop: the stream comes back by itself and marks the gap.
    dropping = true;
    proxy.break();
    await page.locator('#live:not(.on)').waitFor();
    proxy.restore();
    await page.locator('#live.on').waitFor({ timeout: 15000 });
    dropping = false;
    await page.locator('.log-row[data-type="reconnected"]', { hasText: 'while the stream was down' }).waitFor();
    await page.fill('#ec-channel', 'after-the-drop');
    await page.click('#ec-send');
    await page.locator('.log-row[data-type="api_message"]', { hasText: 'after-the-drop' }).waitFor();

    // The text filter keeps the rows that mention it.
    await page.fill('#debug-log-filter', 'while-paused');
    await waitFor(async () => (await page.locator('.log-row:visible').count()) === 1, { message: 'one row left by the filter' });
    await page.fill('#debug-log-filter', '');

    // A phone: nothing is wider than the screen, long names included, and
    // the apps table scrolls inside its card.
    const long = 'w'.repeat(100);
    await page.goto(`${origin}/console/#/apps/app-id/settings`);
    await page.locator('#s-save').waitFor();
    await page.fill('#s-name', long);
    await save(page);
    await page.setViewportSize({ width: 360, height: 740 });
    for (const hash of ['#/', '#/apps/app-id/start', '#/apps/app-id/debug', '#/apps/app-id/usage', '#/apps/app-id/settings']) {
      await page.goto(`${origin}/console/${hash}`);
      await page.locator(hash === '#/' ? 'tr[data-app="app-id"]' : '#tab-start').waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      const [width, viewport] = await fits(page);
      assert.ok(width <= viewport, `${hash} is ${width} px wide at a ${viewport} px screen`);
      await page.screenshot({ path: outputPath(`console-phone-${hash.replace(/[#/]+/g, '-').replace(/^-|-$/g, '') || 'apps'}.png`), fullPage: true });
    }
    await page.goto(`${origin}/console/#/`);
    const card = page.locator('.table-card');
    await card.locator('tr[data-app="app-id"]').waitFor();
    const lastCell = card.locator('tr[data-app="app-id"] td').last();
    await lastCell.scrollIntoViewIfNeeded();
    assert.ok(await lastCell.isVisible(), 'the connections column can be scrolled to');
    const box = await lastCell.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `the last column scrolled into view: ${JSON.stringify(box)}`);

    // An app of one's own: the development app goes away, and the demo says
    // it has no app rather than failing obscurely.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.fill('#new-app-name', 'Mine');
    await page.click('#create-app');
    await page.locator('#cred-key').waitFor();
    const noApp = await context.newPage();
    problems.push(...watchPage(noApp, 'market without app'));
    await noApp.goto(`${server.url}/demo/market`);
    await noApp.locator('#no-app', { hasText: 'the demo has no app to publish as' }).waitFor();
    assert.equal(await noApp.locator('#conn-text').textContent(), 'no app: not connected');
    assert.equal(await noApp.locator('#sub-state').textContent(), 'not subscribed');

    // The one 400 is the refused history setting's, the other the bad JSON.
    const expected = (p) => /status of 400|net::ERR_/.test(p);
    assert.deepEqual(problems.filter((p) => !expected(p)), [], 'console errors');
    assert.deepEqual(failed.filter((f) => !/^400 /.test(f)), [], 'failed requests');
  } catch (err) {
    await page.screenshot({ path: outputPath('console-walk-failure.png'), fullPage: true }).catch(() => {});
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
