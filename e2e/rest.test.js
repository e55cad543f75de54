// HTTP API (protocol.md §6): publishing, channel queries, user termination,
// request signing and limits. Uses the Node SDK where it lets us, and a
// hand-signed request (lib/clients.js rest) where the SDK refuses client-side.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, APPS } from './lib/server.js';
import { Pool, connected, subscribe, sdk, sdkStatus, rest, userAuth, signIn } from './lib/clients.js';
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

const EVENTS = `/apps/${APPS.main.id}/events`;
const BATCH = `/apps/${APPS.main.id}/batch_events`;

async function json(promise) {
  const r = await sdkStatus(promise);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}

describe('publish', () => {
  test('trigger answers 200 {} and delivers', async () => {
    const name = uid('pub');
    const ch = await subscribe(pool.pusher(), name);
    assert.deepEqual(await json(api.trigger(name, 'e', { a: 1 })), {});
    await ch.log.next((e) => e.event === 'e', 5000, 'e');
  });

  test('hand-signed requests (percent-encoded query, single `channel`, raw body bytes) are accepted', async () => {
    const name = uid('hand');
    const rc = pool.raw();
    await rc.established();
    await rc.subscribe(name);
    let res = await rest(srv, { path: EVENTS, body: { name: 'one', channel: name, data: 'x' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, {});
    await rc.next((m) => m.event === 'one' && m.data === 'x', 5000, 'one');
    // php json_encode escapes "/" as "\/": the server must hash the raw bytes
    const body = `{"name":"two","channels":["${name}"],"data":"http:\\/\\/example.com\\/"}`;
    res = await rest(srv, { path: EVENTS, body });
    assert.equal(res.status, 200, res.text);
    const two = await rc.next((m) => m.event === 'two', 5000, 'two');
    assert.equal(two.data, 'http://example.com/');
    res = await rest(srv, { method: 'GET', path: `/apps/${APPS.main.id}/channels`, query: { filter_by_prefix: 'hand-', info: 'subscription_count' } });
    assert.ok([200, 400].includes(res.status), res.text); // subscription_count in list info is not documented; only the signature matters here
    res = await rest(srv, { method: 'GET', path: `/apps/${APPS.main.id}/channels/${name}`, query: { info: 'subscription_count' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { occupied: true, subscription_count: 1 });
  });

  test('info=subscription_count,user_count on trigger returns counts per channel', async () => {
    const pub = uid('counted');
    const pres = uid('presence-counted');
    const empty = uid('nobody');
    await subscribe(pool.pusher(), pub);
    await subscribe(pool.pusher(), pub);
    await subscribe(pool.pusher({ presence: { user_id: 'p1' } }), pres);
    await subscribe(pool.pusher({ presence: { user_id: 'p1' } }), pres);
    await subscribe(pool.pusher({ presence: { user_id: 'p2' } }), pres);
    const body = await json(api.trigger([pub, pres, empty], 'e', {}, { info: 'subscription_count,user_count' }));
    assert.equal(body.channels[pub].subscription_count, 2, JSON.stringify(body));
    assert.equal(body.channels[pub].user_count, undefined, 'user_count only for presence');
    assert.equal(body.channels[pres].user_count, 2, JSON.stringify(body));
    assert.equal(body.channels[empty]?.subscription_count ?? 0, 0);
    assert.deepEqual(Object.keys(body.channels).sort(), [pub, pres, empty].sort());
  });

  test('info=subscription_count on an app without the feature returns no count', async () => {
    const name = uid('nofeature');
    const c = pool.pusher({ app: APPS.noclient });
    await subscribe(c, name);
    const body = await json(sdk(srv, APPS.noclient).trigger(name, 'e', {}, { info: 'subscription_count' }));
    assert.equal(body.channels?.[name]?.subscription_count, undefined, JSON.stringify(body));
  });

  test('socket_id exclusion: the excluded socket gets nothing, the others do', async () => {
    const name = uid('excl');
    const a = pool.pusher();
    const b = pool.pusher();
    const [chA, chB] = await Promise.all([subscribe(a, name), subscribe(b, name)]);
    await api.trigger(name, 'not-for-a', { n: 1 }, { socket_id: a.connection.socket_id });
    await api.triggerBatch([{ channel: name, name: 'batch-not-for-a', data: {}, socket_id: a.connection.socket_id }]);
    await chB.log.next((e) => e.event === 'not-for-a', 5000, 'not-for-a on B');
    await chB.log.next((e) => e.event === 'batch-not-for-a', 5000, 'batch-not-for-a on B');
    await api.trigger(name, 'for-all', {});
    await chA.log.next((e) => e.event === 'for-all', 5000, 'for-all on A');
    assert.deepEqual(chA.log.filter((e) => e.event.endsWith('not-for-a')), [], 'excluded socket must get nothing');
  });

  test('batch events deliver each event to its channel; info is index-aligned', async () => {
    const c1 = uid('b1');
    const c2 = uid('presence-b2');
    const ch1 = await subscribe(pool.pusher(), c1);
    const ch2 = await subscribe(pool.pusher({ presence: { user_id: 'z' } }), c2);
    assert.deepEqual(
      await json(api.triggerBatch([{ channel: c1, name: 'e1', data: { i: 1 } }, { channel: c2, name: 'e2', data: 'raw' }])),
      {},
    );
    assert.deepEqual((await ch1.log.next((e) => e.event === 'e1', 5000, 'e1')).data, { i: 1 });
    assert.equal((await ch2.log.next((e) => e.event === 'e2', 5000, 'e2')).data, 'raw');
    const body = await json(
      api.triggerBatch([
        { channel: c1, name: 'i1', data: {}, info: 'subscription_count' },
        { channel: c2, name: 'i2', data: {}, info: 'user_count' },
      ]),
    );
    assert.equal(body.batch.length, 2, JSON.stringify(body));
    assert.equal(body.batch[0].subscription_count, 1);
    assert.equal(body.batch[1].user_count, 1);
  });
});

describe('channel queries', () => {
  test('GET /channels filters by prefix; info=user_count for presence; unoccupied channels absent', async () => {
    const tag = uid('q').replace(/-/g, '');
    const p1 = `presence-${tag}-a`;
    const p2 = `presence-${tag}-b`;
    const pub = `${tag}-pub`;
    await subscribe(pool.pusher({ presence: { user_id: '1' } }), p1);
    await subscribe(pool.pusher({ presence: { user_id: '2' } }), p1);
    await subscribe(pool.pusher({ presence: { user_id: '3' } }), p2);
    await subscribe(pool.pusher(), pub);
    const withInfo = await json(api.get({ path: '/channels', params: { filter_by_prefix: `presence-${tag}`, info: 'user_count' } }));
    assert.deepEqual(withInfo, { channels: { [p1]: { user_count: 2 }, [p2]: { user_count: 1 } } });
    const plain = await json(api.get({ path: '/channels', params: { filter_by_prefix: tag } }));
    assert.deepEqual(plain, { channels: { [pub]: {} } });
    const all = await json(api.get({ path: '/channels' }));
    for (const c of [p1, p2, pub]) assert.ok(c in all.channels, `${c} in the unfiltered list`);
    assert.deepEqual(await json(api.get({ path: '/channels', params: { filter_by_prefix: `${tag}-nothing` } })), { channels: {} });
    const bad = await sdkStatus(api.get({ path: '/channels', params: { filter_by_prefix: tag, info: 'user_count' } }));
    assert.equal(bad.status, 400, `info=user_count without a presence- prefix: ${bad.body}`);
  });

  test('GET /channels/{c}: occupied, subscription_count, user_count; wrong attribute 400', async (t) => {
    const pub = uid('one');
    const pres = uid('presence-one');
    await subscribe(pool.pusher(), pub);
    await subscribe(pool.pusher(), pub);
    await subscribe(pool.pusher({ presence: { user_id: 'k' } }), pres);
    assert.deepEqual(await json(api.get({ path: `/channels/${pub}`, params: { info: 'subscription_count' } })), { occupied: true, subscription_count: 2 });
    assert.deepEqual(await json(api.get({ path: `/channels/${pub}` })), { occupied: true });
    assert.deepEqual(await json(api.get({ path: `/channels/${pres}`, params: { info: 'user_count' } })), { occupied: true, user_count: 1 });
    assert.deepEqual(await json(api.get({ path: `/channels/${uid('empty')}` })), { occupied: false });
    // attributes not valid for the channel type are 400 (§6.6)
    for (const [what, channel, info] of [
      ['user_count on a public channel', pub, 'user_count'],
      ['subscription_count on a presence channel', pres, 'subscription_count'],
      ['cache on a non-cache channel', pub, 'cache'],
    ]) {
      await t.test(what, async () => {
        const bad = await sdkStatus(api.get({ path: `/channels/${channel}`, params: { info } }));
        assert.equal(bad.status, 400, `${what}: ${bad.body}`);
      });
    }
  });

  test('channel names using every allowed character work in paths and bodies', async () => {
    const name = `a-b_c=d@e,f.g;h-${process.pid}`;
    const ch = await subscribe(pool.pusher(), name);
    assert.deepEqual(await json(api.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })), { occupied: true, subscription_count: 1 });
    await json(api.trigger(name, 'odd', { ok: 1 }));
    await ch.log.next((e) => e.event === 'odd', 5000, 'odd');
    const hand = await rest(srv, { method: 'GET', path: `/apps/${APPS.main.id}/channels/${name}` });
    assert.equal(hand.status, 200, hand.text);
  });

  test('GET /channels/{presence}/users; non-presence 400', async () => {
    const pres = uid('presence-users');
    await subscribe(pool.pusher({ presence: { user_id: 'u-1' } }), pres);
    await subscribe(pool.pusher({ presence: { user_id: 'u-2' } }), pres);
    await subscribe(pool.pusher({ presence: { user_id: 'u-1' } }), pres);
    const body = await json(api.get({ path: `/channels/${pres}/users` }));
    assert.deepEqual(body.users.map((u) => u.id).sort(), ['u-1', 'u-2']);
    assert.deepEqual(Object.keys(body.users[0]), ['id']);
    const bad = await sdkStatus(api.get({ path: `/channels/${uid('pub')}/users` }));
    assert.equal(bad.status, 400, bad.body);
  });
});

describe('terminate_connections', () => {
  test('closes the signed-in sockets of that user only', async () => {
    const user = uid('victim');
    const victim = pool.pusher({ user: { id: user } });
    const bystander = pool.pusher({ user: { id: uid('bystander') } });
    const anon = pool.pusher();
    await Promise.all([signIn(victim), signIn(bystander), connected(anon)]);
    const n = victim.states.items.length;
    assert.deepEqual(await json(api.terminateUserConnections(user)), {});
    await victim.states.next((s) => s !== 'connected' && victim.states.items.indexOf(s) >= n, 5000, 'victim leaving connected');
    // the others keep working
    const name = uid('after-terminate');
    const [chB, chC] = await Promise.all([subscribe(bystander, name), subscribe(anon, name)]);
    await api.trigger(name, 'still-here', {});
    await chB.log.next((e) => e.event === 'still-here', 5000, 'bystander');
    await chC.log.next((e) => e.event === 'still-here', 5000, 'anonymous');
  });

  test('a terminated user leaves its presence channels', async () => {
    const user = uid('leaver');
    const name = uid('presence-term');
    const obs = pool.pusher({ presence: { user_id: 'obs' } });
    const chO = await subscribe(obs, name);
    const victim = pool.pusher({ user: { id: user }, presence: { user_id: user } });
    await signIn(victim);
    await subscribe(victim, name);
    await chO.log.next((e) => e.event === 'pusher:member_added', 5000, 'member_added');
    await json(api.terminateUserConnections(user));
    const removed = await chO.log.next((e) => e.event === 'pusher:member_removed', 10_000, 'member_removed');
    assert.equal(removed.data.id, user);
  });

  test('wire: the terminated socket receives a close frame', async () => {
    const user = uid('raw-victim');
    const victim = pool.pusher({ user: { id: user } });
    await signIn(victim);
    // a raw socket signed in as the same user
    const rc = pool.raw();
    const { socket_id: sid } = await rc.established();
    const ud = JSON.stringify({ id: user });
    rc.send({ event: 'pusher:signin', data: { auth: userAuth(APPS.main, sid, ud), user_data: ud } });
    await rc.next((m) => m.event === 'pusher:signin_success', 5000, 'signin_success');
    await json(api.terminateUserConnections(user));
    const closed = await Promise.race([rc.closed, new Promise((r) => setTimeout(() => r({ code: 'still open' }), 5000))]);
    assert.ok(typeof closed.code === 'number' && closed.code >= 4000 && closed.code < 4100, `close code ${closed.code} (protocol.md §3.10: soketi/sockudo use 4009 so clients do not reconnect)`);
  });
});

describe('authentication of requests (§6.2)', () => {
  const body = () => ({ name: 'e', channels: [uid('sig')], data: '{}' });

  test('wrong secret 401', async () => {
    const r = await rest(srv, { path: EVENTS, body: body(), secret: 'not-the-secret' });
    assert.equal(r.status, 401, r.text);
  });

  test('auth_key of another app 401', async () => {
    const r = await rest(srv, { path: EVENTS, body: body(), key: APPS.noclient.key, secret: APPS.noclient.secret });
    assert.equal(r.status, 401, r.text);
  });

  test('stale or future auth_timestamp (> 600 s) 401; 500 s old is fine', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await rest(srv, { path: EVENTS, body: body(), timestamp: now - 700 })).status, 401);
    assert.equal((await rest(srv, { path: EVENTS, body: body(), timestamp: now + 700 })).status, 401);
    const ok = await rest(srv, { path: EVENTS, body: body(), timestamp: now - 500 });
    assert.equal(ok.status, 200, ok.text);
  });

  test('body_md5 not matching the body is rejected', async () => {
    const r = await rest(srv, { path: EVENTS, body: body(), bodyMD5: '00000000000000000000000000000000' });
    assert.ok([400, 401].includes(r.status), `${r.status} ${r.text}`);
  });

  test('missing auth parameters 401', async () => {
    const res = await fetch(`${srv.base}${EVENTS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body()) });
    assert.equal(res.status, 401, await res.text());
  });

  test('unknown app id 404', async () => {
    const r = await rest(srv, { path: '/apps/no-such-app/events', body: body() });
    assert.equal(r.status, 404, r.text);
    const sdkR = await sdkStatus(sdk(srv, { ...APPS.main, id: 'no-such-app' }).trigger(uid('c'), 'e', {}));
    assert.equal(sdkR.status, 404, sdkR.body);
  });

  test('disabled app 403', async () => {
    const r = await sdkStatus(sdk(srv, APPS.off).trigger(uid('c'), 'e', {}));
    assert.equal(r.status, 403, r.body);
  });
});

describe('limits (§6.3, §6.4, §8)', () => {
  test('data of exactly 10 KB is accepted, one byte more is 413', async () => {
    const name = uid('big');
    const rc = pool.raw();
    await rc.established();
    await rc.subscribe(name);
    const ok = await sdkStatus(api.trigger(name, 'big', 'x'.repeat(10240)));
    assert.equal(ok.status, 200, ok.body);
    const m = await rc.next((x) => x.event === 'big', 5000, 'big');
    assert.equal(m.data.length, 10240);
    const tooBig = await sdkStatus(api.trigger(name, 'big', 'x'.repeat(10241)));
    assert.equal(tooBig.status, 413, tooBig.body);
    const batchBig = await sdkStatus(api.triggerBatch([{ channel: name, name: 'b', data: 'y'.repeat(10241) }]));
    assert.equal(batchBig.status, 413, batchBig.body);
  });

  test('100 channels accepted, 101 is 400', async () => {
    const chans = (n) => Array.from({ length: n }, (_, i) => `many-${process.pid}-${i}`);
    const ok = await rest(srv, { path: EVENTS, body: { name: 'e', channels: chans(100), data: '{}' } });
    assert.equal(ok.status, 200, ok.text);
    const bad = await rest(srv, { path: EVENTS, body: { name: 'e', channels: chans(101), data: '{}' } });
    assert.equal(bad.status, 400, bad.text);
  });

  test('10 batch events accepted, 11 is 400', async () => {
    const batch = (n) => Array.from({ length: n }, (_, i) => ({ channel: uid('bt'), name: 'e', data: String(i) }));
    assert.equal((await sdkStatus(api.triggerBatch(batch(10)))).status, 200);
    const bad = await sdkStatus(api.triggerBatch(batch(11)));
    assert.equal(bad.status, 400, bad.body);
  });

  test('reserved event names pusher:* and pusher_internal:* are 400', async () => {
    for (const name of ['pusher:x', 'pusher_internal:subscription_succeeded']) {
      const r = await sdkStatus(api.trigger(uid('c'), name, {}));
      assert.equal(r.status, 400, `${name}: ${r.body}`);
    }
  });

  test('malformed bodies are 400', async (t) => {
    const cases = {
      'not json': '{nope',
      'no name': { channels: ['a'], data: '{}' },
      'no data': { name: 'e', channels: ['a'] },
      'no channels': { name: 'e', data: '{}' },
      'data not a string': { name: 'e', channels: ['a'], data: { a: 1 } },
      'bad channel name': { name: 'e', channels: ['a b'], data: '{}' },
      'channel name too long': { name: 'e', channels: ['c'.repeat(201)], data: '{}' },
      'event name too long': { name: 'e'.repeat(201), channels: ['a'], data: '{}' },
      'empty batch item': { batch: [{}] },
    };
    for (const [what, body] of Object.entries(cases)) {
      await t.test(what, async () => {
        const path = what === 'empty batch item' ? BATCH : EVENTS;
        const r = await rest(srv, { path, body });
        assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      });
    }
  });

  test('daily message quota: publishes are refused with 403 once used up', async () => {
    const q = sdk(srv, APPS.quota);
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await sdkStatus(q.trigger(uid('q'), 'e', {}))).status);
    assert.equal(statuses[0], 200, statuses.join(','));
    const first403 = statuses.indexOf(403);
    assert.ok(first403 > 0 && first403 <= 6, `quota 5 should be hit within 6 publishes: ${statuses.join(',')}`);
    assert.ok(statuses.slice(first403).every((s) => s === 403), statuses.join(','));
    // other apps are unaffected
    assert.equal((await sdkStatus(api.trigger(uid('c'), 'e', {}))).status, 200);
  });
});
