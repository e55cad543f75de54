'use strict';
// The exchange demo across a server restart: the market page says it lost
// the connection while the server is down, pusher-js reconnects on its own
// once a new server listens on the same port, the trades shown before stay
// (a restarted server keeps no history), and a trade placed on the new
// server appears without a reload.

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchChromium, watchPage, outputPath } = require('./lib');

const APP = { id: 'restart-app', key: 'restart-key', secret: 'restart-secret' };
const CONFIG = `
apps:
  - id: ${APP.id}
    key: ${APP.key}
    secret: ${APP.secret}
    name: Demo restart app
demo_app_id: ${APP.id}
cluster:
  drain_window: 100ms
`;

test('exchange demo: the market page comes back by itself after the server restarts', async (t) => {
  let server = await startServer({ t, config: CONFIG });
  const { port, url } = server;
  const browser = await launchChromium({ t });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const market = await context.newPage();
  const trade = await context.newPage();
  const problems = [...watchPage(market, 'market'), ...watchPage(trade, 'trade')];
  const states = [];
  await market.exposeFunction('reportState', (s) => states.push(s));

  async function place(price) {
    await trade.goto(`${url}/demo/trade`);
    await trade.fill('#price', String(price));
    await Promise.all([trade.waitForEvent('load'), trade.click('#submit')]);
    assert.match(trade.url(), /\/demo\/trade\?ok=1$/);
    await market.waitForFunction((p) => document.getElementById('last-price').textContent === p, `${price}.00`, { timeout: 10000 });
  }

  try {
    await market.goto(`${url}/demo/market`);
    await market.locator('#market[data-subscribed="true"]').waitFor({ timeout: 10000 });
    await market.evaluate(() => new MutationObserver(() => window.reportState(document.getElementById('conn-text').textContent))
      .observe(document.getElementById('conn'), { subtree: true, childList: true, characterData: true }));
    await place(101);

    await server.stop();
    await market.locator('#market[data-subscribed="false"]').waitFor({ timeout: 10000 });
    assert.notEqual(await market.locator('#conn').getAttribute('data-state'), 'connected');
    assert.equal(await market.locator('#sub-state').textContent(), 'offline: prices may be stale');

    server = await startServer({ t, config: CONFIG, port });
    await market.locator('#market[data-subscribed="true"]').waitFor({ timeout: 30000 });
    assert.equal(await market.locator('#conn-text').textContent(), 'connected');
    assert.ok(states.includes('reconnecting…'), `the page said it was reconnecting: ${states.join(', ')}`);
    assert.equal(await market.locator('#trades tr').count(), 1, 'the trade from before is still shown');
    await place(102);
    assert.equal(await market.locator('#trades tr').count(), 2);

    const unexpected = problems.filter((p) => !/WebSocket connection to .* failed/.test(p) && !/ERR_CONNECTION/.test(p));
    assert.deepEqual(unexpected, [], 'page errors');
  } catch (err) {
    await market.screenshot({ path: outputPath('demo-restart-failure.png') }).catch(() => {});
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
