// Webhooks (protocol.md §7): every request is verified with the official
// Node SDK (`pusher.webhook({headers, rawBody}).isValid()`), and the events
// are read through its getEvents()/getTime().

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import PusherServer from 'pusher';
import { APPS, DEFAULT_CONFIG } from './lib/server.js';
import { Pool, subscribe, sdk } from './lib/clients.js';
import { uid, waitFor } from './lib/wait.js';
import { Receiver, startConfigured } from './lib/webhooks.js';

const VACATE_DELAY_MS = 300;

let srv;
let pool;
let all; // every type, every channel
let filtered; // channel_occupied on private- channels only, with an extra header
let retry; // retry- channels only
before(async () => {
  all = await new Receiver().start();
  filtered = await new Receiver().start();
  retry = await new Receiver().start();
  const main = {
    ...APPS.main,
    webhooks: [
      { url: all.url },
      { url: filtered.url, events: ['channel_occupied'], channel_prefix: 'private-', headers: { 'X-Token': 'e2e' } },
      { url: retry.url, events: ['channel_occupied'], channel_prefix: 'retry-' },
    ],
  };
  srv = await startConfigured({
    apps: [main, ...DEFAULT_CONFIG.apps.filter((a) => a.id !== APPS.main.id)],
    webhooks: { batch_interval: '50ms', vacate_delay: `${VACATE_DELAY_MS}ms`, retry_horizon: '3s', timeout: '2s' },
  });
  pool = new Pool(srv);
});
after(async () => {
  pool?.closeAll();
  await srv?.stop();
  await all?.close();
  await filtered?.close();
  await retry?.close();
});

// verified returns the SDK's view of each delivered request, asserting it is valid.
function verified(rcv, app = APPS.main) {
  const api = sdk(srv, app);
  return rcv.delivered().map((r) => {
    const wh = api.webhook({ headers: r.headers, rawBody: r.rawBody });
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(wh.isValid(), true, `webhook not valid per the Node SDK: ${JSON.stringify(r.headers)} ${r.rawBody}`);
    return wh;
  });
}

// events waits until pred holds over the verified events of rcv and returns them.
async function events(rcv, pred, what) {
  let evs = [];
  await waitFor(
    () => {
      evs = verified(rcv).flatMap((wh) => wh.getEvents());
      return pred(evs);
    },
    { timeout: 10_000, what: `${what} (got ${JSON.stringify(evs).slice(0, 1500)})` },
  );
  return evs;
}

const on = (evs, name, channel) => evs.filter((e) => e.name === name && e.channel === channel);

describe('webhooks', () => {
  test('channel_occupied, subscription_count and channel_vacated, valid per the Node SDK', async () => {
    const name = uid('pub');
    const a = pool.pusher();
    await subscribe(a, name);
    let evs = await events(all, (e) => on(e, 'subscription_count', name).length === 1, `subscription_count on ${name}`);
    assert.deepEqual(on(evs, 'channel_occupied', name), [{ name: 'channel_occupied', channel: name }]);
    assert.deepEqual(on(evs, 'subscription_count', name), [{ name: 'subscription_count', channel: name, subscription_count: 1 }]);
    a.unsubscribe(name);
    evs = await events(all, (e) => on(e, 'channel_vacated', name).length === 1, `channel_vacated on ${name}`);
    assert.deepEqual(on(evs, 'channel_vacated', name), [{ name: 'channel_vacated', channel: name }]);
    for (const wh of verified(all)) {
      const t = wh.getTime().getTime();
      assert.ok(Math.abs(Date.now() - t) < 60_000, `time_ms ${t} is not a creation time`);
    }
  });

  test('presence: member_added, client_event with user_id (data a string), member_removed', async () => {
    const name = uid('presence-room');
    const a = pool.pusher({ presence: { user_id: 'u1', user_info: { n: 1 } } });
    const b = pool.pusher({ presence: { user_id: 'u2' } });
    const chA = await subscribe(a, name);
    await subscribe(b, name);
    await events(all, (e) => on(e, 'member_added', name).length === 2, 'two member_added');
    assert.equal(chA.trigger('client-typing', { x: 1 }), true);
    let evs = await events(all, (e) => on(e, 'client_event', name).length === 1, 'client_event');
    const [ce] = on(evs, 'client_event', name);
    assert.equal(ce.event, 'client-typing');
    assert.equal(typeof ce.data, 'string');
    assert.deepEqual(JSON.parse(ce.data), { x: 1 });
    assert.equal(ce.user_id, 'u1');
    assert.equal(ce.socket_id, a.connection.socket_id);
    b.unsubscribe(name);
    evs = await events(all, (e) => on(e, 'member_removed', name).length === 1, 'member_removed');
    assert.deepEqual(on(evs, 'member_removed', name), [{ name: 'member_removed', channel: name, user_id: 'u2' }]);
    assert.deepEqual(on(evs, 'member_added', name).map((e) => e.user_id).sort(), ['u1', 'u2']);
  });

  test('client_event on a private channel has no user_id; cache_miss on a cache channel', async () => {
    const priv = uid('private-chat');
    const cache = uid('cache-quotes');
    const a = pool.pusher();
    const ch = await subscribe(a, priv);
    ch.trigger('client-x', { y: 2 });
    await subscribe(a, cache);
    const evs = await events(all, (e) => on(e, 'client_event', priv).length === 1 && on(e, 'cache_miss', cache).length === 1,
      'client_event and cache_miss');
    const [ce] = on(evs, 'client_event', priv);
    assert.equal('user_id' in ce, false, JSON.stringify(ce));
    assert.equal(ce.data, '{"y":2}');
    assert.deepEqual(on(evs, 'cache_miss', cache), [{ name: 'cache_miss', channel: cache }]);
  });

  test('an endpoint gets only its event types and channel prefix, with its extra headers', async () => {
    const pub = uid('pub');
    const priv = uid('private-f');
    const a = pool.pusher();
    await subscribe(a, pub);
    await subscribe(a, priv);
    a.unsubscribe(priv);
    const evs = await events(filtered, (e) => on(e, 'channel_occupied', priv).length === 1, `channel_occupied on ${priv}`);
    await events(all, (e) => on(e, 'channel_vacated', priv).length === 1, `channel_vacated on ${priv} at the other endpoint`);
    for (const e of evs) {
      assert.equal(e.name, 'channel_occupied', JSON.stringify(e));
      assert.ok(e.channel.startsWith('private-'), JSON.stringify(e));
    }
    for (const r of filtered.delivered()) assert.equal(r.headers['x-token'], 'e2e');
  });

  test('leaving and coming back within the vacate delay sends neither vacated nor occupied again', async () => {
    const name = uid('pub-rejoin');
    const a = pool.pusher();
    await subscribe(a, name);
    await events(all, (e) => on(e, 'channel_occupied', name).length === 1, 'first channel_occupied');
    a.unsubscribe(name);
    await subscribe(a, name);
    // A sentinel channel opened after the hold window proves the quiet period.
    await new Promise((r) => setTimeout(r, VACATE_DELAY_MS + 200));
    const sentinel = uid('pub-sentinel');
    await subscribe(a, sentinel);
    const evs = await events(all, (e) => on(e, 'channel_occupied', sentinel).length === 1, 'sentinel');
    assert.equal(on(evs, 'channel_occupied', name).length, 1);
    assert.equal(on(evs, 'channel_vacated', name).length, 0);
  });

  test('a request signed for this app is not valid with another secret', async () => {
    await events(all, (e) => e.length > 0, 'any webhook');
    const [r] = all.delivered();
    const other = new PusherServer({ appId: APPS.main.id, key: APPS.main.key, secret: 'not-the-secret' });
    assert.equal(other.webhook({ headers: r.headers, rawBody: r.rawBody }).isValid(), false);
    assert.ok(r.headers['x-pusher-webhook-id'], 'x-pusher-webhook-id header');
  });

  test('a failing receiver gets the same batch again until it answers 2xx', async () => {
    const name = uid('retry-pub');
    retry.fail(2);
    const a = pool.pusher();
    await subscribe(a, name);
    await events(retry, (e) => on(e, 'channel_occupied', name).length === 1, 'channel_occupied after retries');
    const tries = retry.requests.items;
    assert.deepEqual(tries.map((r) => r.status), [500, 500, 200]);
    assert.equal(new Set(tries.map((r) => r.headers['x-pusher-webhook-id'])).size, 1, 'retries keep the webhook id');
    assert.equal(new Set(tries.map((r) => r.rawBody)).size, 1, 'retries keep the body');
  });
});
