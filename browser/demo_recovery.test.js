'use strict';
// The exchange demo with channel history (issue 15): the market page opens
// with the last trades from history, and trades placed while its connection
// is broken (a TCP proxy the test controls between page and server) appear
// once it comes back: all of them, in order, none twice. When more were
// missed than the channel keeps, the page shows the last kept ones afresh.

const test = require('node:test');
const assert = require('node:assert/strict');
const Pusher = require('pusher');
const { startServer, launchChromium, watchPage, outputPath } = require('./lib');
const { startProxy } = require('./tcpproxy');

const APP = { id: 'browser-app', key: 'browser-key', secret: 'browser-secret' };
const CONFIG = `
apps:
  - id: ${APP.id}
    key: ${APP.key}
    secret: ${APP.secret}
    name: Browser test app
demo_app_id: ${APP.id}
cluster:
  drain_window: 100ms
`;

const shown = (price) => price.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 8 });

test('exchange demo: the market opens with the last trades and recovers the ones placed while it was cut off', async (t) => {
  const server = await startServer({ t, config: CONFIG });
  const proxy = await startProxy(server.port);
  t.after(() => proxy.close());
  const browser = await launchChromium({ t });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const trade = await context.newPage();
  const problems = watchPage(trade, 'trade');

  // Trades are placed on the server directly, never through the proxy.
  async function place(price) {
    await trade.goto(`${server.url}/demo/trade`);
    await trade.fill('#price', String(price));
    await trade.fill('#amount', '1');
    await Promise.all([trade.waitForEvent('load'), trade.click('#submit')]);
    assert.match(trade.url(), /\/demo\/trade\?ok=1$/);
  }
  // prices lists the market's rows, oldest first (the table shows the newest on top).
  const prices = (page) => page.evaluate(() =>
    Array.from(document.querySelectorAll('#trades tr')).map((tr) => tr.children[2].textContent).reverse());

  const market = await context.newPage();
  problems.push(...watchPage(market, 'market'));
  try {
    await place(101);
    await place(102);
    // The trades are published asynchronously: wait until both are kept.
    const deadline = Date.now() + 10000;
    for (;;) {
      const res = await fetch(`${server.url}/demo/trades`);
      assert.equal(res.status, 200);
      if ((await res.json()).trades.length === 2) break;
      assert.ok(Date.now() < deadline, 'the 2 trades are not kept in history');
      await new Promise((r) => setTimeout(r, 100));
    }

    await market.goto(`http://127.0.0.1:${proxy.port}/demo/market`);
    await market.locator('#market[data-subscribed="true"]').waitFor({ timeout: 15000 });
    await market.waitForFunction(() => document.querySelectorAll('#trades tr').length === 2, null, { timeout: 10000 });
    assert.equal(await market.locator('#market').getAttribute('data-history'), '2', 'opened with the 2 kept trades');
    assert.equal(await market.locator('#market').getAttribute('data-recovery'), 'true');

    await place(103); // live
    await market.waitForFunction(() => document.querySelectorAll('#trades tr').length === 3, null, { timeout: 10000 });

    proxy.break();
    await market.locator('#market[data-subscribed="false"]').waitFor({ timeout: 15000 });
    for (const p of [104, 105, 106]) await place(p);
    proxy.restore();

    await market.locator('#market[data-subscribed="true"]').waitFor({ timeout: 60000 });
    await market.waitForFunction(() => document.querySelectorAll('#trades tr').length >= 6, null, { timeout: 15000 });
    await place(107); // live again, after the recovered ones
    await market.waitForFunction(() => document.querySelectorAll('#trades tr').length >= 7, null, { timeout: 10000 });

    assert.deepEqual(await prices(market), [101, 102, 103, 104, 105, 106, 107].map(shown),
      'every trade once, in order');
    await market.screenshot({ path: outputPath('demo-market-recovered.png'), animations: 'disabled' });

    // Cut off again while more trades are published than the channel keeps
    // (100): they cannot be recovered (pixiu:recovery_failed), so the page
    // shows the last kept ones afresh instead of a price that is no longer
    // the last. Published through the REST API, as an application would.
    proxy.break();
    await market.locator('#market[data-subscribed="false"]').waitFor({ timeout: 15000 });
    const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
    const missed = Array.from({ length: 110 }, (_, i) => 200 + i);
    for (const price of missed) await sdk.trigger('price_channel', 'update', { price, amount: 1, side: 'buy', time: new Date().toISOString() });
    proxy.restore();
    await market.locator('#market[data-refetched="25"]').waitFor({ timeout: 60000 });
    assert.deepEqual(await prices(market), missed.slice(-25).map(shown), 'the 25 newest kept trades, in order');
    assert.equal(await market.locator('#last-price').textContent(), shown(309));
    assert.match(await market.locator('#sub-state').textContent(), /reloaded the last trades/);
    await place(400); // and live again
    await market.waitForFunction(() => document.getElementById('last-price').textContent === '400.00', null, { timeout: 10000 });
    const unexpected = problems.filter((p) => !/WebSocket connection to .* failed/.test(p) && !/ERR_CONNECTION/.test(p));
    assert.deepEqual(unexpected, [], 'page errors');
  } catch (err) {
    await market.screenshot({ path: outputPath('demo-market-recovery-failure.png') }).catch(() => {});
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
