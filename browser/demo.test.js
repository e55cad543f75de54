'use strict';
// The exchange demo end to end in a real browser: the market page (pusher-js)
// shows a trade placed on the trade page (Go SDK → REST → WebSocket) live.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchChromium, watchPage, outputPath } = require('./lib');

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

// Prices of the trades placed, enough to give the chart a shape.
const TRADES = [
  [101.25, 3, 'buy'], [102.1, 1, 'buy'], [101.6, 2, 'sell'], [103.4, 5, 'buy'], [104.05, 1.5, 'buy'],
  [103.2, 4, 'sell'], [105.5, 2, 'buy'], [106.1, 1, 'buy'], [105.3, 3, 'sell'], [107.25, 2.5, 'buy'],
  [106.8, 1, 'sell'], [108.4, 6, 'buy'],
];

const shown = (price) => price.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 8 });

test('exchange demo: a trade on /demo/trade moves /demo/market live', async (t) => {
  const server = await startServer({ t, config: CONFIG });
  const browser = await launchChromium({ t });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));

  const market = await context.newPage();
  const problems = watchPage(market, 'market');
  const sockets = [];
  market.on('websocket', (ws) => sockets.push(ws.url()));

  try {
    await market.goto(`${server.url}/demo/market`);
    await market.locator('#conn[data-state="connected"]').waitFor({ timeout: 10000 });
    await market.locator('#market[data-subscribed="true"]').waitFor({ timeout: 10000 });
    assert.equal(await market.locator('#conn-text').textContent(), 'connected');
    assert.equal(await market.locator('#trades tr').count(), 0, 'no trades before the first one');

    const trade = await context.newPage();
    problems.push(...watchPage(trade, 'trade'));
    await trade.goto(`${server.url}/demo/trade`);

    for (const [i, [price, amount, side]] of TRADES.entries()) {
      await trade.locator(`.side-${side} span`).click();
      await trade.fill('#price', String(price));
      await trade.fill('#amount', String(amount));
      // The next load is the page the 303 leads to (the URL alone cannot tell:
      // it is already ?ok=1 after the first trade).
      await Promise.all([trade.waitForEvent('load'), trade.click('#submit')]);
      assert.match(trade.url(), /\/demo\/trade\?ok=1$/);
      assert.match(await trade.locator('#notice').textContent(), /^Published: /);

      // The new price shows within a few seconds and the list grew by one.
      await market.waitForFunction(([want, n]) =>
        document.getElementById('last-price').textContent === want &&
        document.querySelectorAll('#trades tr').length === n,
      [shown(price), i + 1], { timeout: 5000 });
    }

    const top = market.locator('#trades tr').first();
    assert.equal(await top.locator('td').nth(2).textContent(), shown(108.4));
    assert.equal(await top.locator('.side-tag').textContent(), 'buy');
    assert.equal(await market.locator('#stat-count').textContent(), String(TRADES.length));
    assert.equal(await market.locator('#last-price').getAttribute('class'), 'price up flash-up');
    assert.ok(await market.locator('#chart path.line').count() === 1, 'the chart has a line');

    // pusher-js came from this server, not the CDN, and connected here.
    assert.ok(requests.includes(`${server.url}/demo/vendor/pusher.min.js`), `pusher-js not loaded locally: ${requests.join(' ')}`);
    const cdn = requests.filter((u) => new URL(u).hostname.endsWith('pusher.com'));
    assert.deepEqual(cdn, [], 'requests to pusher.com');
    assert.ok(sockets.some((u) => u.startsWith(`ws://127.0.0.1:${server.port}/app/${APP.key}?`)),
      `no WebSocket to this server with key ${APP.key}: ${sockets.join(' ')}`);

    await market.screenshot({ path: outputPath('demo-market.png'), animations: 'disabled' });
    await trade.screenshot({ path: outputPath('demo-trade.png'), animations: 'disabled' });
    assert.deepEqual(problems, [], 'page errors');
  } catch (err) {
    await market.screenshot({ path: outputPath('demo-market-failure.png') }).catch(() => {});
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
