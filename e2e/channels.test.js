// Subscriptions and channel types (protocol.md §3.4–§3.6, §3.8, §3.12–§3.14, §4).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, APPS } from './lib/server.js';
import { Pool, connected, subscribe, sdk, sdkStatus, rest, privateAuth, hmac } from './lib/clients.js';
import { uid, waitFor } from './lib/wait.js';

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

describe('public channels', () => {
  test('subscribe, then a REST trigger arrives with data exactly as posted', async () => {
    const name = uid('pub');
    const client = pool.pusher();
    const ch = await subscribe(client, name);
    const rc = pool.raw();
    await rc.established();
    const ok = await rc.subscribe(name);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', ok.raw);
    assert.equal(ok.data, '{}', `non-presence subscription_succeeded data must be the string "{}": ${ok.raw}`);

    const data = '{"hello":"world","n":1,"nested":{"a":[1,2]}}';
    await api.trigger(name, 'greet', data);
    const got = await ch.log.next((e) => e.event === 'greet', 5000, 'greet');
    assert.deepEqual(got.data, JSON.parse(data));
    const wire = await rc.next((m) => m.event === 'greet', 5000, 'greet on raw');
    assert.equal(wire.channel, name);
    assert.equal(wire.data, data, 'data must be forwarded byte-for-byte as a string');

    // a data string that is not JSON is forwarded as-is too
    await api.trigger(name, 'plain', 'just text, not "json"');
    const plain = await rc.next((m) => m.event === 'plain', 5000, 'plain on raw');
    assert.equal(plain.data, 'just text, not "json"');
    const plainJS = await ch.log.next((e) => e.event === 'plain', 5000, 'plain on pusher-js');
    assert.equal(plainJS.data, 'just text, not "json"');
  });

  test('subscribe accepts data sent as a JSON string (§2)', async () => {
    const name = uid('strdata');
    const rc = pool.raw();
    await rc.established();
    rc.send({ event: 'pusher:subscribe', data: JSON.stringify({ channel: name }) });
    const m = await rc.next((x) => x.event === 'pusher_internal:subscription_succeeded' || x.event === 'pusher:error', 5000, 'answer');
    assert.equal(m.event, 'pusher_internal:subscription_succeeded', m.raw);
    assert.equal(m.channel, name);
  });

  test('one connection multiplexes many channels', async () => {
    const client = pool.pusher();
    const names = Array.from({ length: 25 }, () => uid('multi'));
    const chans = await Promise.all(names.map((n) => subscribe(client, n)));
    await api.trigger(names, 'fan', { ok: true });
    await Promise.all(chans.map((c) => c.log.next((e) => e.event === 'fan', 5000, `fan on ${c.name}`)));
  });

  test('unsubscribe stops delivery and the channel becomes unoccupied', async () => {
    const name = uid('unsub');
    const other = uid('unsub-other');
    const rc = pool.raw();
    await rc.established();
    assert.equal((await rc.subscribe(name)).event, 'pusher_internal:subscription_succeeded');
    assert.equal((await rc.subscribe(other)).event, 'pusher_internal:subscription_succeeded');
    rc.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    // unsubscribe has no reply; poll the REST view
    await waitFor(async () => (await api.get({ path: `/channels/${name}` }).then((r) => r.json())).occupied === false, {
      what: `${name} unoccupied`,
    });
    await api.trigger([name, other], 'after', {});
    await rc.next((m) => m.event === 'after' && m.channel === other, 5000, 'event on the still-subscribed channel');
    await rc.roundTrip();
    assert.equal(rc.log.filter((m) => m.event === 'after' && m.channel === name).length, 0, 'no event after unsubscribe');
    // unsubscribing from a channel never subscribed is ignored (no error, socket open)
    const n = rc.log.items.length;
    rc.send({ event: 'pusher:unsubscribe', data: { channel: uid('never') } });
    await rc.roundTrip();
    assert.equal(rc.log.items.slice(n).filter((m) => m.event === 'pusher:error').length, 0);
  });

  test('subscribing twice to the same channel answers pusher:error (§3.4)', async () => {
    const name = uid('twice');
    const rc = pool.raw();
    await rc.established();
    assert.equal((await rc.subscribe(name)).event, 'pusher_internal:subscription_succeeded');
    const again = await rc.subscribe(name);
    assert.equal(again.event, 'pusher:error', again.raw);
    assert.equal(typeof again.data, 'object');
    assert.ok(rc.isOpen);
  });

  test('channel names: 200 chars accepted, 201 chars and bad characters refused', async () => {
    const rc = pool.raw();
    await rc.established();
    const ok200 = 'p-' + 'a'.repeat(198);
    assert.equal((await rc.subscribe(ok200)).event, 'pusher_internal:subscription_succeeded');
    const allChars = 'Az09_-=@,.;' + uid('');
    assert.equal((await rc.subscribe(allChars)).event, 'pusher_internal:subscription_succeeded', 'every allowed character (§4)');
    for (const bad of ['p-' + 'a'.repeat(199), 'has space', 'star*', 'slash/x', '#server-to-user-nobody']) {
      const ans = await rc.subscribe(bad);
      assert.notEqual(ans.event, 'pusher_internal:subscription_succeeded', `${bad} must be refused`);
    }
    await rc.roundTrip();
  });
});

describe('fan-out', () => {
  test('50 subscribers each get 50 events in publish order', async () => {
    const name = uid('fan');
    const subs = Array.from({ length: 50 }, () => pool.raw());
    await Promise.all(subs.map((r) => r.established()));
    await Promise.all(subs.map(async (r) => assert.equal((await r.subscribe(name)).event, 'pusher_internal:subscription_succeeded')));
    for (let i = 0; i < 50; i++) await api.trigger(name, 'seq', String(i));
    await Promise.all(subs.map((r) => r.next((m) => m.event === 'seq' && m.data === '49', 10_000, 'last event')));
    for (const r of subs) {
      assert.deepEqual(r.log.filter((m) => m.event === 'seq').map((m) => Number(m.data)), Array.from({ length: 50 }, (_, i) => i));
      r.close();
    }
  });
});

describe('private channels', () => {
  test('valid auth subscribes and receives events', async () => {
    const name = uid('private-ok');
    const client = pool.pusher();
    const ch = await subscribe(client, name);
    await api.trigger(name, 'secret', { n: 42 });
    const got = await ch.log.next((e) => e.event === 'secret', 5000, 'secret');
    assert.deepEqual(got.data, { n: 42 });
  });

  test('invalid auth is refused; the connection stays usable', async () => {
    const bad = uid('private-bad');
    const good = uid('private-good');
    const client = pool.pusher({
      authorize: (server, socketId, channel) =>
        channel === bad ? { auth: `${APPS.main.key}:${hmac('wrong-secret', `${socketId}:${channel}`)}` } : server.authorizeChannel(socketId, channel),
    });
    await connected(client);
    const n = client.log.items.length;
    const badCh = client.subscribe(bad);
    const refusals = [];
    badCh.bind('pusher:subscription_error', (e) => refusals.push(e));
    // Pusher answers pusher:error (code null, no channel); others send pusher:subscription_error
    const refusal = await client.log.next(
      (m) => client.log.items.indexOf(m) >= n && (m.event === 'pusher:error' || (m.event === 'pusher:subscription_error' && m.channel === bad)),
      5000,
      'refusal of the bad subscription',
    );
    assert.ok(refusal);
    assert.equal(client.log.filter((m) => m.event === 'pusher_internal:subscription_succeeded' && m.channel === bad).length, 0);
    assert.equal(badCh.subscribed, false);
    const badEvents = [];
    badCh.bind_global((event) => badEvents.push(event));
    assert.equal(client.connection.state, 'connected');
    const ch = await subscribe(client, good);
    await api.trigger([bad, good], 'probe', {});
    await ch.log.next((e) => e.event === 'probe', 5000, 'probe on good channel');
    assert.deepEqual(badEvents.filter((e) => e === 'probe'), [], 'refused channel must not receive events');
    assert.equal(client.log.filter((m) => m.event === 'probe' && m.channel === bad).length, 0);
  });

  test('wire: missing auth, wrong key, other socket signature are refused with pusher:error', async () => {
    const name = uid('private-wire');
    const rc = pool.raw();
    const { socket_id: sid } = await rc.established();
    const cases = {
      'empty auth': '',
      'no colon': 'garbage',
      'wrong key': `noclient-key:${hmac(APPS.main.secret, `${sid}:${name}`)}`,
      'signed for another socket': privateAuth(APPS.main, '1.1', name),
      'signed for another channel': privateAuth(APPS.main, sid, name + 'x'),
    };
    for (const [what, auth] of Object.entries(cases)) {
      const ans = await rc.subscribe(name, { auth });
      assert.ok(['pusher:error', 'pusher:subscription_error'].includes(ans.event), `${what}: ${ans.raw}`);
      if (ans.event === 'pusher:error') assert.equal(typeof ans.data, 'object', `${what}: pusher:error data must be an object`);
    }
    assert.ok(rc.isOpen);
    const ok = await rc.subscribe(name, { auth: privateAuth(APPS.main, sid, name) });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', ok.raw);
    assert.equal(ok.data, '{}');
  });
});

describe('cache channels (§3.13)', () => {
  test('empty cache channel answers pusher:cache_miss after subscription_succeeded', async () => {
    const name = uid('cache-empty');
    const rc = pool.raw();
    await rc.established();
    const ok = await rc.subscribe(name);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    const miss = await rc.next((m) => m.event === 'pusher:cache_miss', 5000, 'cache_miss');
    assert.equal(miss.channel, name);
    assert.ok(rc.log.items.indexOf(ok) < rc.log.items.indexOf(miss));

    const client = pool.pusher();
    const ch = await subscribe(client, uid('cache-empty-js'));
    await ch.log.next((e) => e.event === 'pusher:cache_miss', 5000, 'pusher:cache_miss on pusher-js');
  });

  test('a new subscriber gets the last published event immediately', async () => {
    const name = uid('cache-last');
    await api.trigger(name, 'price', { v: 1 });
    await api.trigger(name, 'price', { v: 2 });
    const rc = pool.raw();
    await rc.established();
    const ok = await rc.subscribe(name);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded');
    const cached = await rc.next((m) => m.event === 'price', 5000, 'cached event');
    assert.equal(cached.channel, name);
    assert.deepEqual(JSON.parse(cached.data), { v: 2 });
    await rc.roundTrip();
    assert.equal(rc.log.filter((m) => m.event === 'pusher:cache_miss').length, 0);
    assert.equal(rc.log.filter((m) => m.event === 'price').length, 1, 'only the last event is replayed');

    const client = pool.pusher();
    const ch = await subscribe(client, name);
    const got = await ch.log.next((e) => e.event === 'price', 5000, 'cached price on pusher-js');
    assert.deepEqual(got.data, { v: 2 });

    const info = await (await api.get({ path: `/channels/${name}`, params: { info: 'cache' } })).json();
    assert.equal(info.occupied, true);
    assert.equal(info.cache?.data, JSON.stringify({ v: 2 }));
    assert.ok(info.cache.ttl > 0 && info.cache.ttl <= 1800, `ttl ${info.cache.ttl}`);
  });

  test('client events are not cached (§3.9)', async () => {
    const name = uid('private-cache-client');
    const a = pool.pusher();
    const b = pool.pusher();
    const chA = await subscribe(a, name);
    const chB = await subscribe(b, name);
    chA.trigger('client-note', { n: 1 });
    await chB.log.next((e) => e.event === 'client-note', 5000, 'client-note on B');
    const c = pool.pusher();
    const chC = await subscribe(c, name);
    await chC.log.next((e) => e.event === 'pusher:cache_miss', 5000, 'cache_miss: the client event must not be cached');
    assert.equal(chC.log.filter((e) => e.event === 'client-note').length, 0);
  });

  test('private-cache channel replays to an authorized subscriber', async () => {
    const name = uid('private-cache-x');
    await api.trigger(name, 'state', { s: 'on' });
    const client = pool.pusher();
    const ch = await subscribe(client, name);
    const got = await ch.log.next((e) => e.event === 'state', 5000, 'cached state');
    assert.deepEqual(got.data, { s: 'on' });
  });
});

describe('encrypted channels (§3.14)', () => {
  test('pusher-js decrypts what the Node SDK encrypted; the server forwards nonce+ciphertext untouched', async () => {
    const name = uid('private-encrypted-x');
    const client = pool.pusher();
    const ch = await subscribe(client, name);
    const rc = pool.raw();
    const { socket_id: sid } = await rc.established();
    const ok = await rc.subscribe(name, { auth: privateAuth(APPS.main, sid, name) });
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', ok.raw);

    const secret = { card: '4111 1111', note: 'ünïcødé' };
    await api.trigger(name, 'pay', secret);
    const got = await ch.log.next((e) => e.event === 'pay', 5000, 'decrypted pay');
    assert.deepEqual(got.data, secret);
    const wire = await rc.next((m) => m.event === 'pay', 5000, 'pay on raw');
    const payload = JSON.parse(wire.data);
    assert.ok(payload.nonce && payload.ciphertext, `wire data must be {nonce, ciphertext}: ${wire.data}`);
    assert.ok(!wire.data.includes('4111'), 'server must not see/alter plaintext');
  });

  test('publishing to an encrypted channel together with another channel is refused with 400', async () => {
    const res = await rest(srv, {
      path: `/apps/${APPS.main.id}/events`,
      body: { name: 'x', data: '{}', channels: [uid('private-encrypted-y'), uid('pub')] },
    });
    assert.equal(res.status, 400, res.text);
  });
});

describe('subscription_count (§3.12)', () => {
  test('subscribers get pusher:subscription_count on subscribe and unsubscribe', async () => {
    const name = uid('counted');
    const a = pool.pusher();
    const chA = await subscribe(a, name);
    const first = await chA.log.next((e) => e.event === 'pusher:subscription_count', 5000, 'count 1');
    assert.equal(first.data.subscription_count, 1);

    const b = pool.pusher();
    const chB = await subscribe(b, name);
    await chA.log.next((e) => e.event === 'pusher:subscription_count' && e.data.subscription_count === 2, 5000, 'count 2 on A');
    await chB.log.next((e) => e.event === 'pusher:subscription_count' && e.data.subscription_count === 2, 5000, 'count 2 on B');
    assert.equal(chA.subscriptionCount, 2);

    b.unsubscribe(name);
    await chA.log.next(
      (e, i) => e.event === 'pusher:subscription_count' && e.data.subscription_count === 1 && chA.log.items.indexOf(e) > chA.log.items.indexOf(first),
      5000,
      'count back to 1',
    );
  });

  test('wire shape: pusher_internal:subscription_count with string data', async () => {
    const name = uid('counted-wire');
    const rc = pool.raw();
    await rc.established();
    await rc.subscribe(name);
    const m = await rc.next((x) => x.event === 'pusher_internal:subscription_count', 5000, 'subscription_count');
    assert.equal(m.channel, name);
    assert.equal(typeof m.data, 'string');
    assert.deepEqual(JSON.parse(m.data), { subscription_count: 1 });
  });

  test('presence channels get no subscription_count', async () => {
    const name = uid('presence-uncounted');
    const a = pool.pusher({ presence: { user_id: 'sc1' } });
    const ch = await subscribe(a, name);
    await subscribe(pool.pusher({ presence: { user_id: 'sc2' } }), name);
    await ch.log.next((e) => e.event === 'pusher:member_added', 5000, 'member_added');
    await api.trigger(name, 'sentinel', {});
    await ch.log.next((e) => e.event === 'sentinel', 5000, 'sentinel');
    assert.equal(a.log.filter((m) => m.event === 'pusher_internal:subscription_count').length, 0);
  });

  test('apps without the feature get no subscription_count', async () => {
    const name = uid('uncounted');
    const rc = pool.raw({ key: APPS.noclient.key });
    await rc.established();
    await rc.subscribe(name);
    const api2 = sdk(srv, APPS.noclient);
    await api2.trigger(name, 'sentinel', {});
    await rc.next((m) => m.event === 'sentinel', 5000, 'sentinel');
    assert.equal(rc.log.filter((m) => m.event === 'pusher_internal:subscription_count').length, 0);
  });
});

describe('HTTP API sees subscriptions', () => {
  test('GET /channels/{c} after pusher-js subscribes', async () => {
    const name = uid('seen');
    const c = pool.pusher();
    await subscribe(c, name);
    const r = await sdkStatus(api.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } }));
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { occupied: true, subscription_count: 1 });
  });
});

describe('cache TTL (cache_ttl 1s)', () => {
  let short;
  before(async () => {
    short = await startServer({ limits: { max_event_bytes: 10240, max_channel_name_len: 200, cache_ttl: 1 } });
  });
  after(async () => {
    await short?.stop();
  });

  test('the cached event expires', async () => {
    const name = uid('cache-ttl');
    const p = new Pool(short);
    try {
      await sdk(short).trigger(name, 'v', '1');
      const rc = p.raw();
      await rc.established();
      await rc.subscribe(name);
      assert.equal((await rc.next((m) => m.event === 'v' || m.event === 'pusher:cache_miss', 5000, 'cached')).event, 'v');
      await waitFor(
        async () => {
          const r = p.raw();
          await r.established();
          await r.subscribe(name);
          const m = await r.next((x) => x.event === 'v' || x.event === 'pusher:cache_miss', 5000, 'cache answer');
          r.close();
          return m.event === 'pusher:cache_miss';
        },
        { timeout: 5000, interval: 200, what: 'cache_miss after the TTL' },
      );
    } finally {
      p.closeAll();
    }
  });
});
