// User authentication (protocol.md §3.10–§3.11): pusher:signin, server-to-user
// events, watchlist events, presence membership from the signed-in user.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, APPS } from './lib/server.js';
import { Pool, connected, subscribe, sdk, signIn, userAuth, hmac, privateAuth } from './lib/clients.js';
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

function parse(data) {
  return typeof data === 'string' ? JSON.parse(data) : data;
}

// rawSignin signs a raw socket in with userData (an object or a verbatim string).
async function rawSignin(userData, { sign = true } = {}) {
  const rc = pool.raw();
  const { socket_id: sid } = await rc.established();
  const ud = typeof userData === 'string' ? userData : JSON.stringify(userData);
  const auth = sign ? userAuth(APPS.main, sid, ud) : `${APPS.main.key}:${hmac('wrong', `${sid}::user::${ud}`)}`;
  const n = rc.log.items.length;
  rc.send({ event: 'pusher:signin', data: { auth, user_data: ud } });
  const ans = await rc.next((m) => rc.log.items.indexOf(m) >= n && (m.event === 'pusher:signin_success' || m.event === 'pusher:error'), 5000, 'signin answer');
  return { rc, sid, ans, ud };
}

describe('sign-in', () => {
  test('pusher.signin() then sendToUser reaches pusher.user.bind', async () => {
    const id = uid('alice');
    const client = pool.pusher({ user: { id, user_info: { name: 'Alice' } } });
    const data = await signIn(client);
    assert.equal(data.id, id);
    const got = new Promise((resolve) => client.user.bind('greet', resolve));
    await api.sendToUser(id, 'greet', { hello: id });
    const payload = await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('no greet within 5 s')), 5000))]);
    assert.deepEqual(payload, { hello: id });
  });

  test('wire: signin_success echoes user_data verbatim; user events arrive on #server-to-user-<id>', async () => {
    const id = uid('wire-user');
    const userData = `{"id":"${id}", "user_info":{"name":"spaced  json"}}`;
    const { rc, ans } = await rawSignin(userData);
    assert.equal(ans.event, 'pusher:signin_success', ans.raw);
    assert.equal(parse(ans.data).user_data, userData);
    const ok = await rc.subscribe(`#server-to-user-${id}`);
    assert.equal(ok.event, 'pusher_internal:subscription_succeeded', ok.raw);
    assert.equal(ok.data, '{}');
    await api.sendToUser(id, 'direct', 'payload');
    const m = await rc.next((x) => x.event === 'direct', 5000, 'direct');
    assert.equal(m.channel, `#server-to-user-${id}`);
    assert.equal(m.data, 'payload');
  });

  test('sendToUser reaches every socket of that user and nobody else', async () => {
    const id = uid('multi');
    const c1 = pool.pusher({ user: { id } });
    const c2 = pool.pusher({ user: { id } });
    const other = pool.pusher({ user: { id: uid('other') } });
    await Promise.all([signIn(c1), signIn(c2), signIn(other)]);
    const got = [];
    for (const c of [c1, c2, other]) c.user.bind('ping-user', (d) => got.push({ c, d }));
    await api.sendToUser(id, 'ping-user', { n: 1 });
    await c1.log.next((m) => m.event === 'ping-user', 5000, 'c1');
    await c2.log.next((m) => m.event === 'ping-user', 5000, 'c2');
    await api.sendToUser(other.user.user_data.id, 'sentinel', {});
    await other.log.next((m) => m.event === 'sentinel', 5000, 'sentinel');
    assert.equal(got.filter((g) => g.c === other).length, 0);
    assert.equal(got.length, 2);
  });

  test('bad signature, missing id, empty id are refused with pusher:error; the socket stays open', async () => {
    const cases = [
      [{ id: uid('forger') }, { sign: false }],
      [{ user_info: { name: 'no id' } }, {}],
      [{ id: '' }, {}],
      ['not json', {}],
    ];
    for (const [ud, opts] of cases) {
      const { rc, ans } = await rawSignin(ud, opts);
      assert.equal(ans.event, 'pusher:error', `${JSON.stringify(ud)}: ${ans.raw}`);
      assert.equal(typeof ans.data, 'object');
      await rc.roundTrip();
    }
  });

  test('a bad pusher-js signin leaves the client connected and not signed in', async () => {
    const id = uid('bad-js');
    const client = pool.pusher({
      userAuth: (server, socketId) => ({ auth: `${APPS.main.key}:${hmac('wrong', `${socketId}::user::{"id":"${id}"}`)}`, user_data: `{"id":"${id}"}` }),
    });
    await assert.rejects(signIn(client), /signin refused/);
    assert.equal(client.connection.state, 'connected');
    assert.equal(client.user.user_data, null);
  });

  test('#server-to-user-<id> needs to be signed in as <id>', async () => {
    const victim = uid('victim');
    const anon = pool.raw();
    await anon.established();
    assert.notEqual((await anon.subscribe(`#server-to-user-${victim}`)).event, 'pusher_internal:subscription_succeeded');
    const { rc, ans } = await rawSignin({ id: uid('mallory') });
    assert.equal(ans.event, 'pusher:signin_success');
    assert.notEqual((await rc.subscribe(`#server-to-user-${victim}`)).event, 'pusher_internal:subscription_succeeded');
    await api.sendToUser(victim, 'secret', {});
    await rc.roundTrip();
    await anon.roundTrip();
    assert.equal(rc.log.filter((m) => m.event === 'secret').length + anon.log.filter((m) => m.event === 'secret').length, 0);
  });

  test('signing in again as a different user on the same connection is refused', async () => {
    const { rc, sid, ans } = await rawSignin({ id: uid('first') });
    assert.equal(ans.event, 'pusher:signin_success');
    const ud = JSON.stringify({ id: uid('second') });
    const n = rc.log.items.length;
    rc.send({ event: 'pusher:signin', data: { auth: userAuth(APPS.main, sid, ud), user_data: ud } });
    const again = await rc.next((m) => rc.log.items.indexOf(m) >= n && (m.event === 'pusher:signin_success' || m.event === 'pusher:error'), 5000, 'answer');
    assert.equal(again.event, 'pusher:error', again.raw);
  });

  test('presence via sign-in: no channel_data, the member is the signed-in user', async () => {
    const name = uid('presence-signed');
    const id = uid('member');
    const obs = pool.pusher({ presence: { user_id: 'observer' } });
    const chO = await subscribe(obs, name);
    const client = pool.pusher({
      user: { id, user_info: { name: 'Signed' } },
      authorize: (server, socketId, channel) => ({ auth: privateAuth(APPS.main, socketId, channel) }),
    });
    await signIn(client);
    const ch = await subscribe(client, name);
    assert.equal(ch.members.me.id, id);
    assert.equal(ch.members.count, 2);
    const added = await chO.log.next((e) => e.event === 'pusher:member_added', 5000, 'member_added');
    assert.equal(added.data.id, id);
    assert.deepEqual(added.data.info, { name: 'Signed' });
  });
});

describe('watchlist (§3.11)', () => {
  test('online/offline events for watched users', async () => {
    const carol = uid('carol');
    const dave = uid('dave');
    const bobId = uid('bob');
    const carolC = pool.pusher({ user: { id: carol } });
    await signIn(carolC);

    const bob = pool.pusher({ user: { id: bobId, watchlist: [carol, dave] } });
    const online = [];
    const offline = [];
    bob.user.watchlist.bind('online', (e) => online.push(e));
    bob.user.watchlist.bind('offline', (e) => offline.push(e));
    await signIn(bob);
    const initial = await bob.log.next((m) => m.event === 'pusher_internal:watchlist_events', 5000, 'initial watchlist_events');
    assert.equal(initial.channel, undefined, 'watchlist_events has no channel');
    assert.ok(online.some((e) => e.user_ids.includes(carol)), `carol online at sign-in: ${JSON.stringify(online)}`);
    assert.ok(!online.some((e) => e.user_ids.includes(dave)), 'dave is not online');

    const daveC = pool.pusher({ user: { id: dave } });
    await signIn(daveC);
    await bob.log.next((m) => m.event === 'pusher_internal:watchlist_events' && JSON.stringify(m.data).includes(dave), 5000, 'dave online');
    assert.ok(online.some((e) => e.name === 'online' && e.user_ids.includes(dave)));

    carolC.disconnect();
    await bob.log.next(
      (m) => m.event === 'pusher_internal:watchlist_events' && m.data.events.some((e) => e.name === 'offline' && e.user_ids.includes(carol)),
      10_000,
      'carol offline',
    );
    assert.ok(offline.some((e) => e.user_ids.includes(carol)));
  });

  test('a user online on two sockets goes offline only when both close', async () => {
    const eve = uid('eve');
    const e1 = pool.pusher({ user: { id: eve } });
    const e2 = pool.pusher({ user: { id: eve } });
    await signIn(e1);
    await signIn(e2);
    const watcher = pool.pusher({ user: { id: uid('watcher'), watchlist: [eve] } });
    await signIn(watcher);
    const isOffline = (m) => m.event === 'pusher_internal:watchlist_events' && m.data.events.some((e) => e.name === 'offline');
    const probe = uid('probe');
    await subscribe(e1, probe);
    e1.disconnect();
    // the server has processed the close once e1's channel is vacated
    await waitFor(async () => (await (await api.get({ path: `/channels/${probe}` })).json()).occupied === false, {
      what: 'e1 close processed',
    });
    await api.sendToUser(watcher.user.user_data.id, 'sentinel', {});
    await watcher.log.next((m) => m.event === 'sentinel', 5000, 'sentinel');
    assert.equal(watcher.log.filter(isOffline).length, 0, 'still online on e2');
    e2.disconnect();
    await watcher.log.next(isOffline, 10_000, 'offline after the last socket');
  });

  test('more than 100 watched ids: signin_success, then pusher:error 4302', async () => {
    const watchlist = Array.from({ length: 101 }, (_, i) => `w${i}`);
    const { rc, ans } = await rawSignin({ id: uid('greedy'), watchlist });
    assert.equal(ans.event, 'pusher:signin_success', ans.raw);
    const err = await rc.next((m) => m.event === 'pusher:error', 5000, '4302');
    assert.equal(err.data.code, 4302, err.raw);
    assert.ok(rc.log.items.indexOf(ans) < rc.log.items.indexOf(err));
    await rc.roundTrip();
  });
});
