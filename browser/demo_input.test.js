'use strict';
// The exchange demo's trade form given what users type by mistake or on
// purpose: an empty price, zero, a huge number, markup and script in the
// fields, a side that is neither buy nor sell. Each gets a clear message on
// the form, kept as text; nothing reaches the market page until a valid trade
// does. Both pages fit a phone's screen, even with the huge prices an
// application may publish.

const test = require('node:test');
const assert = require('node:assert/strict');
const Pusher = require('pusher');
const { startServer, launchChromium, watchPage, outputPath } = require('./lib');

const APP = { id: 'input-app', key: 'input-key', secret: 'input-secret' };
const CONFIG = `
apps:
  - id: ${APP.id}
    key: ${APP.key}
    secret: ${APP.secret}
    name: Demo input app
demo_app_id: ${APP.id}
cluster:
  drain_window: 100ms
`;
const SCRIPT = '<script>window.pwned = 1</script>';
const PHONE = 360;
const IMG = '"><img src=x onerror="window.pwned = 1">';

test('exchange demo: bad trades get clear messages, markup stays text, the market sees only good ones', async (t) => {
  const server = await startServer({ t, config: CONFIG });
  const browser = await launchChromium({ t });
  // A phone: with isMobile, a page wider than the screen widens the layout
  // viewport (innerWidth), so widths are compared with PHONE instead.
  const context = await browser.newContext({ viewport: { width: PHONE, height: 740 }, isMobile: true, hasTouch: true });
  const dialogs = [];
  const market = await context.newPage();
  const trade = await context.newPage();
  const problems = [...watchPage(market, 'market')];
  const tradeProblems = watchPage(trade, 'trade');
  for (const p of [market, trade]) p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });

  // submit fills the form (as text fields when asked, which a user's browser
  // or a script can do) and posts it; it returns the notice shown.
  async function submit({ price, amount = '', side, asText = false }) {
    await trade.goto(`${server.url}/demo/trade`);
    await trade.evaluate(({ price, amount, side, asText }) => {
      if (asText) for (const id of ['price', 'amount']) document.getElementById(id).type = 'text';
      document.getElementById('price').value = price;
      document.getElementById('amount').value = amount;
      if (side) document.querySelector('input[name="side"]').value = side;
    }, { price, amount, side, asText });
    await Promise.all([trade.waitForEvent('load'), trade.click('#submit')]);
    const notice = trade.locator('#notice');
    assert.equal(await notice.getAttribute('role'), 'alert', `no error shown for ${price}`);
    assert.equal(await notice.locator('*').count(), 0, 'the message is text only');
    return notice.textContent();
  }

  try {
    await market.goto(`${server.url}/demo/market`);
    await market.locator('#market[data-subscribed="true"]').waitFor({ timeout: 10000 });
    assert.equal(await market.locator('#pusher-js-from').textContent(), 'this server', 'the footer names where pusher-js came from');

    // An empty price is caught by the browser: nothing is posted.
    await trade.goto(`${server.url}/demo/trade`);
    await trade.fill('#price', '');
    await trade.click('#submit');
    assert.notEqual(await trade.evaluate(() => document.getElementById('price').validationMessage), '');
    assert.equal(trade.url(), `${server.url}/demo/trade`);

    assert.equal(await submit({ price: '0' }), 'price must be greater than 0');
    assert.equal(await trade.inputValue('#price'), '0', 'the refused form keeps the input');
    assert.equal(await submit({ price: '99999999999999999' }), 'price must be at most 1,000,000,000,000');
    assert.equal(await submit({ price: '5', amount: '1e400', asText: true }), 'amount must be at most 1,000,000,000,000');
    assert.equal(await submit({ price: SCRIPT, amount: IMG, asText: true }), `price must be a number, not "${SCRIPT.slice(0, 20)}"`);
    assert.equal(await submit({ price: '5', amount: IMG, asText: true }), `amount must be a number, not ${JSON.stringify(IMG.slice(0, 20))}`);
    assert.equal(await submit({ price: '5', side: SCRIPT }), `side must be buy or sell, not "${SCRIPT.slice(0, 20)}"`);
    assert.equal(await trade.evaluate(() => window.pwned), undefined, 'no script ran');
    assert.equal(await trade.locator('img').count(), 0);
    assert.equal(await market.locator('#trades tr').count(), 0, 'no refused trade reached the market');

    // A good trade after all that is published and shown.
    await trade.goto(`${server.url}/demo/trade`);
    await trade.fill('#price', '42.5');
    await trade.fill('#amount', '3');
    await Promise.all([trade.waitForEvent('load'), trade.click('#submit')]);
    assert.match(await trade.locator('#notice').textContent(), /^Published: BUY 3 @ 42.5$/);
    await market.waitForFunction(() => document.getElementById('last-price').textContent === '42.50', null, { timeout: 5000 });
    assert.equal(await market.locator('#trades tr').count(), 1);

    // An application may publish any number (the form stops at 1e12): a
    // huge one is shown compactly, and a long one wraps.
    const sdk = new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
    await sdk.trigger('price_channel', 'update', { price: 999999999999999, amount: 2 });
    await market.waitForFunction(() => document.getElementById('last-price').textContent === '999,999,999,999,999.00', null, { timeout: 5000 });
    const wide = await market.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= PHONE, `a long price makes the market ${wide} px wide at a ${PHONE} px screen`);
    await sdk.trigger('price_channel', 'update', { price: 1e300, amount: 1.5e300 });
    await market.waitForFunction(() => document.getElementById('last-price').textContent === '1E300', null, { timeout: 5000 });
    assert.deepEqual(await market.locator('#trades tr').first().locator('td.num').allTextContents(), ['1E300', '1.5E300']);

    for (const [name, p] of [['market', market], ['trade', trade]]) {
      const width = await p.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= PHONE, `${name} is ${width} px wide at a ${PHONE} px screen`);
      await p.screenshot({ path: outputPath(`demo-phone-${name}.png`), fullPage: true, animations: 'disabled' });
    }
    assert.deepEqual(dialogs, [], 'dialogs');
    // The refused forms are answered 400, which the browser logs; nothing else.
    problems.push(...tradeProblems.filter((p) => !/status of 400/.test(p)));
    assert.deepEqual(problems, [], 'page errors');
  } catch (err) {
    await trade.screenshot({ path: outputPath('demo-input-failure.png') }).catch(() => {});
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
