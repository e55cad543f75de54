// Client events (protocol.md §3.9): delivered to the other subscribers only,
// with user_id on presence channels, refused where the rules say so.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, APPS } from './lib/server.js';
import { Pool, subscribe, sdk, privateAuth, presenceAuth } from './lib/clients.js';
import { uid } from './lib/wait.js';

let srv;
let pool;
let api;
before(async () => {
  srv = await startServer();
  pool = new Pool(srv);
  api = sdk(srv);
});
after(async () => {
  pool?.closeAll();
  await srv?.stop();
});

async function sentinel(chans, name, app = APPS.main) {
  const tag = uid('s');
  await sdk(srv, app).trigger(name, 'sentinel', { tag });
  await Promise.all(chans.map((ch) => ch.log.next((e) => e.event === 'sentinel' && (typeof e.data === 'string' ? JSON.parse(e.data) : e.data)?.tag === tag, 5000, `sentinel on ${ch.name ?? 'raw'}`)));
}

// rawSubscribed opens a raw socket subscribed to a private or presence channel.
async function rawSubscribed(name, { app = APPS.main, userId } = {}) {
  const rc = pool.raw({ key: app.key });
  const { socket_id: sid } = await rc.established();
  let extra = { auth: privateAuth(app, sid, name) };
  if (name.startsWith('presence-')) {
    const cd = JSON.stringify({ user_id: userId, user_info: {} });
    extra = { auth: presenceAuth(app, sid, name, cd), channel_data: cd };
  } else if (!name.startsWith('private-')) {
    extra = {};
  }
  const ok = await rc.subscribe(name, extra);
  assert.equal(ok.event, 'pusher_internal:subscription_succeeded', ok.raw);
  rc.name = name;
  return rc;
}

describe('delivery', () => {
  test('private: delivered to the others, not echoed to the sender, data forwarded as a string', async () => {
    const name = uid('private-chat');
    const a = pool.pusher();
    const b = pool.pusher();
    const chA = await subscribe(a, name);
    const chB = await subscribe(b, name);
    const rc = await rawSubscribed(name);

    assert.equal(chA.trigger('client-typing', { x: 1, who: 'a' }), true);
    const got = await chB.log.next((e) => e.event === 'client-typing', 5000, 'client-typing on B');
    assert.deepEqual(got.data, { x: 1, who: 'a' });
    const wire = await rc.next((m) => m.event === 'client-typing', 5000, 'client-typing on raw');
    assert.equal(wire.channel, name);
    assert.equal(typeof wire.data, 'string', `client event data must be forwarded as a JSON string: ${wire.raw}`);
    assert.deepEqual(JSON.parse(wire.data), { x: 1, who: 'a' });
    assert.equal(wire.user_id, undefined, 'no user_id on private channels');

    await sentinel([chA, chB], name);
    assert.equal(chA.log.filter((e) => e.event === 'client-typing').length, 0, 'the sender must not get its own event');
    assert.equal(chB.log.filter((e) => e.event === 'client-typing').length, 1);
  });

  test('presence: receivers get user_id; another socket of the same user receives it', async () => {
    const name = uid('presence-chat');
    const a1 = pool.pusher({ presence: { user_id: 'alice', user_info: {} } });
    const a2 = pool.pusher({ presence: { user_id: 'alice', user_info: {} } });
    const b = pool.pusher({ presence: { user_id: 'bob', user_info: {} } });
    const [chA1, chA2, chB] = await Promise.all([subscribe(a1, name), subscribe(a2, name), subscribe(b, name)]);
    const seen = [];
    chB.bind('client-hello', (data, meta) => seen.push({ data, meta }));

    chA1.trigger('client-hello', { hi: true });
    const got = await chB.log.next((e) => e.event === 'client-hello', 5000, 'client-hello on bob');
    assert.deepEqual(got.data, { hi: true });
    assert.equal(seen[0]?.meta?.user_id, 'alice', `metadata: ${JSON.stringify(seen)}`);
    const onOtherTab = await chA2.log.next((e) => e.event === 'client-hello', 5000, 'client-hello on alice tab 2');
    assert.deepEqual(onOtherTab.data, { hi: true });
    const wire = a2.log.find((m) => m.event === 'client-hello');
    assert.equal(wire.user_id, 'alice');

    await sentinel([chA1], name);
    assert.equal(chA1.log.filter((e) => e.event === 'client-hello').length, 0, 'not echoed to the sending socket');
  });

  test('encrypted private channels: a client event is relayed without modification or refused, never crashes', async () => {
    // official clients refuse to send these; the protocol does not forbid them (§3.9)
    const name = uid('private-encrypted-c');
    const a = await rawSubscribed(name);
    const b = await rawSubscribed(name);
    a.send({ event: 'client-x', channel: name, data: { y: 1 } });
    await a.roundTrip();
    await b.roundTrip();
    const relayed = b.log.find((m) => m.event === 'client-x');
    if (relayed) assert.deepEqual(JSON.parse(relayed.data), { y: 1 });
    assert.ok(a.isOpen && b.isOpen);
  });
});

describe('refusals', () => {
  test('public channel: refused with pusher:error, not delivered', async () => {
    const name = uid('public-chat');
    const sender = await rawSubscribed(name);
    const recv = pool.pusher();
    const chR = await subscribe(recv, name);
    sender.send({ event: 'client-nope', channel: name, data: {} });
    const err = await sender.nextError();
    assert.equal(typeof err.data, 'object', err.raw);
    assert.equal(typeof err.data.message, 'string');
    await sentinel([chR], name);
    assert.equal(chR.log.filter((e) => e.event === 'client-nope').length, 0);
    assert.ok(sender.isOpen);
  });

  test('app with client events disabled: pusher:error, not delivered', async () => {
    const name = uid('private-quiet');
    const sender = await rawSubscribed(name, { app: APPS.noclient });
    const recv = await rawSubscribed(name, { app: APPS.noclient });
    const n = sender.log.items.length;
    sender.send({ event: 'client-nope', channel: name, data: { a: 1 } });
    const err = await sender.nextError(5000, n);
    assert.equal(typeof err.data, 'object', err.raw);
    await sentinel([recv], name, APPS.noclient);
    assert.equal(recv.log.filter((m) => m.event === 'client-nope').length, 0);
    assert.ok(sender.isOpen);
  });

  test('pusher-js on an app with client events disabled gets the error event', async () => {
    const name = uid('private-quiet-js');
    const a = pool.pusher({ app: APPS.noclient });
    const ch = await subscribe(a, name);
    ch.trigger('client-nope', {});
    const err = await a.errors.next((e) => e.type === 'PusherError', 5000, 'PusherError');
    assert.equal(typeof err.data.message, 'string');
    assert.equal(a.connection.state, 'connected');
  });

  test('not subscribed to the channel: refused', async () => {
    const name = uid('private-elsewhere');
    const recv = await rawSubscribed(name);
    const outsider = pool.raw();
    await outsider.established();
    outsider.send({ event: 'client-sneak', channel: name, data: {} });
    await outsider.nextError();
    await sentinel([recv], name);
    assert.equal(recv.log.filter((m) => m.event === 'client-sneak').length, 0);
  });

  test('event names without the client- prefix are refused', async () => {
    const name = uid('private-prefix');
    const a = await rawSubscribed(name);
    const b = await rawSubscribed(name);
    a.send({ event: 'typing', channel: name, data: {} });
    const err = await a.nextError();
    assert.equal(typeof err.data, 'object');
    await sentinel([b], name);
    assert.equal(b.log.filter((m) => m.event === 'typing').length, 0);
  });

  test('client event data over 10 KB is refused', async () => {
    const name = uid('private-big');
    const a = await rawSubscribed(name);
    const b = await rawSubscribed(name);
    a.send({ event: 'client-big', channel: name, data: 'x'.repeat(11 * 1024) });
    await a.nextError();
    await sentinel([b], name);
    assert.equal(b.log.filter((m) => m.event === 'client-big').length, 0);
  });

  test('rate limit: more than 10 per second gets pusher:error 4301 and the connection stays open', async () => {
    const name = uid('private-flood');
    const a = await rawSubscribed(name);
    const b = await rawSubscribed(name);
    const n = a.log.items.length;
    for (let i = 0; i < 30; i++) a.send({ event: 'client-flood', channel: name, data: { i } });
    const err = await a.next((m) => m.event === 'pusher:error' && a.log.items.indexOf(m) >= n, 5000, 'rate limit error');
    assert.equal(err.data.code, 4301, err.raw);
    await a.roundTrip();
    assert.ok(a.isOpen, 'rate limiting must not close the connection');
    await sentinel([b], name);
    const delivered = b.log.filter((m) => m.event === 'client-flood').length;
    assert.ok(delivered >= 10 && delivered <= 12, `delivered ${delivered} of 30 in a burst; expected about 10`);
    // the first ten are the ones that got through, in order
    const first = b.log.filter((m) => m.event === 'client-flood').slice(0, 10).map((m) => JSON.parse(m.data).i);
    assert.deepEqual(first, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(a.log.filter((m) => m.event === 'pusher:error').every((m) => m.data.code === 4301));
  });
});
