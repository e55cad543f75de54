// Laravel Echo on top of pusher-js, as a Laravel front end would use it.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import Echo from 'laravel-echo';
import PusherJS from 'pusher-js';
import { startServer, APPS } from './lib/server.js';
import { Pool, sdk } from './lib/clients.js';
import { Recorder, uid, waitFor, withTimeout } from './lib/wait.js';

let srv;
let pool;
let api;
const echos = [];
before(async () => {
  srv = await startServer();
  pool = new Pool(srv);
  api = sdk(srv);
});
after(async () => {
  for (const e of echos) e.disconnect();
  pool?.closeAll();
  await srv?.stop();
});

// echo builds an Echo around a pooled pusher-js client.
function echo(opts = {}) {
  const e = new Echo({ broadcaster: 'pusher', client: pool.pusher(opts) });
  echos.push(e);
  return e;
}

// subscribed resolves once the Echo channel's pusher-js subscription succeeded
// (also when that happened before this call).
function subscribed(channel, what) {
  if (channel.subscription.subscribed) return Promise.resolve();
  return withTimeout(new Promise((resolve, reject) => channel.subscribed(resolve).error((err) => reject(new Error(JSON.stringify(err))))), 5000, `${what} subscribed`);
}

describe('Laravel Echo', () => {
  test('public channel: listen with raw and namespaced event names', async () => {
    const name = uid('orders');
    const e = echo();
    const rec = new Recorder('echo public');
    const ch = e.channel(name)
      .listen('.order.raw', (d) => rec.push({ kind: 'raw', d }))
      .listen('OrderShipped', (d) => rec.push({ kind: 'ns', d }));
    await subscribed(ch, name);
    await api.trigger(name, 'order.raw', { id: 1 });
    await api.trigger(name, 'App\\Events\\OrderShipped', { id: 2, order: { total: 9.5 } });
    assert.deepEqual((await rec.next((x) => x.kind === 'raw', 5000, 'raw')).d, { id: 1 });
    assert.deepEqual((await rec.next((x) => x.kind === 'ns', 5000, 'namespaced')).d, { id: 2, order: { total: 9.5 } });
  });

  test('Echo constructing pusher-js itself (options.Pusher) connects and listens', async () => {
    const server = sdk(srv);
    const e = new Echo({
      broadcaster: 'pusher',
      Pusher: PusherJS,
      key: APPS.main.key,
      cluster: 'mt1',
      wsHost: '127.0.0.1',
      wsPort: srv.port,
      wssPort: srv.port,
      forceTLS: Boolean(srv.tls),
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: { customHandler: ({ socketId, channelName }, cb) => cb(null, server.authorizeChannel(socketId, channelName)) },
    });
    echos.push(e);
    const name = uid('room');
    const rec = new Recorder('echo private (own pusher)');
    const ch = e.private(name).listen('.Ping', (d) => rec.push(d));
    await subscribed(ch, name);
    assert.equal(e.connectionStatus(), 'connected');
    assert.match(e.socketId(), /^\d+\.\d+$/);
    await api.trigger(`private-${name}`, 'Ping', { p: 1 });
    assert.deepEqual(await rec.next(() => true, 5000, 'Ping'), { p: 1 });
  });

  test('private channel listen, and toOthers() via socket_id', async () => {
    const name = uid('account');
    const a = echo();
    const b = echo();
    const recA = new Recorder('A');
    const recB = new Recorder('B');
    const chA = a.private(name).listen('.Updated', (d) => recA.push(d));
    const chB = b.private(name).listen('.Updated', (d) => recB.push(d));
    await subscribed(chA, 'A');
    await subscribed(chB, 'B');
    // Laravel's broadcast(...)->toOthers() sends the X-Socket-ID as socket_id
    await api.trigger(`private-${name}`, 'Updated', { v: 1 }, { socket_id: a.socketId() });
    await api.trigger(`private-${name}`, 'Updated', { v: 2 });
    assert.deepEqual(await recB.next((d) => d.v === 2, 5000, 'v2 on B'), { v: 2 });
    assert.deepEqual(recB.items.map((d) => d.v), [1, 2]);
    await recA.next((d) => d.v === 2, 5000, 'v2 on A');
    assert.deepEqual(recA.items.map((d) => d.v), [2], 'A was excluded from v1');
  });

  test('presence: join().here().joining().leaving()', async () => {
    const room = uid('chat');
    const alice = echo({ presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
    const here = new Recorder('alice here');
    const joining = new Recorder('alice joining');
    const leaving = new Recorder('alice leaving');
    alice.join(room).here((users) => here.push(users)).joining((u) => joining.push(u)).leaving((u) => leaving.push(u));
    assert.deepEqual(await here.next(() => true, 5000, 'here'), [{ name: 'Alice' }]);

    const bob = echo({ presence: { user_id: 'bob', user_info: { name: 'Bob' } } });
    const bobHere = new Recorder('bob here');
    bob.join(room).here((users) => bobHere.push(users));
    const users = await bobHere.next(() => true, 5000, 'bob here');
    assert.deepEqual(users.map((u) => u.name).sort(), ['Alice', 'Bob']);
    assert.deepEqual(await joining.next(() => true, 5000, 'joining'), { name: 'Bob' });

    bob.leave(room);
    assert.deepEqual(await leaving.next(() => true, 5000, 'leaving'), { name: 'Bob' });
    assert.equal(joining.items.length, 1);
  });

  test('whisper / listenForWhisper on private and presence channels', async () => {
    for (const kind of ['private', 'presence']) {
      const name = uid('typing');
      const a = echo({ presence: { user_id: 'wa' } });
      const b = echo({ presence: { user_id: 'wb' } });
      const recA = new Recorder('A whispers');
      const recB = new Recorder('B whispers');
      const chA = (kind === 'private' ? a.private(name) : a.join(name)).listenForWhisper('typing', (d) => recA.push(d));
      const chB = (kind === 'private' ? b.private(name) : b.join(name)).listenForWhisper('typing', (d) => recB.push(d));
      await subscribed(chA, `${kind} A`);
      await subscribed(chB, `${kind} B`);
      chA.whisper('typing', { name: 'A', kind });
      assert.deepEqual(await recB.next(() => true, 5000, `${kind} whisper on B`), { name: 'A', kind });
      chB.whisper('typing', { name: 'B', kind });
      assert.deepEqual(await recA.next(() => true, 5000, `${kind} whisper on A`), { name: 'B', kind });
      assert.equal(recA.items.length, 1, 'no echo of own whisper');
      assert.equal(recB.items.length, 1, 'no echo of own whisper');
    }
  });

  test('encrypted private channel', async () => {
    const name = uid('vault');
    const e = echo();
    const rec = new Recorder('encrypted');
    const ch = e.encryptedPrivate(name).listen('.Secret', (d) => rec.push(d));
    await subscribed(ch, name);
    await api.trigger(`private-encrypted-${name}`, 'Secret', { code: 1234 });
    assert.deepEqual(await rec.next(() => true, 5000, 'Secret'), { code: 1234 });
  });

  test("private().notification(): Laravel's BroadcastNotificationCreated reaches the callback; stopListeningForNotification stops it", async () => {
    const user = `App.Models.User.${process.pid}${Date.now() % 100000}`;
    const e = echo();
    const got = new Recorder('notifications');
    const all = new Recorder('listenToAll');
    const cb = (n) => got.push(n);
    const ch = e.private(user).notification(cb).listenToAll((event, data) => all.push({ event, data }));
    await subscribed(ch, user);
    // what Laravel's BroadcastNotificationCreated::broadcastWith sends
    const payload = { message: 'Invoice paid', id: '3f2a9c4e-1b7d-4c1e-9a55-5d7c8e0f1a2b', type: 'App\\Notifications\\InvoicePaid' };
    await api.trigger(`private-${user}`, 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', payload);
    assert.deepEqual(await got.next(() => true, 5000, 'notification'), payload);
    assert.deepEqual(await all.next(() => true, 5000, 'listenToAll'), { event: '.Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', data: payload });
    ch.stopListeningForNotification(cb);
    await api.trigger(`private-${user}`, 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', { ...payload, message: 'again' });
    await all.next((x) => x.data.message === 'again', 5000, 'second notification on listenToAll');
    assert.equal(got.items.length, 1, 'no callback after stopListeningForNotification');
  });

  test('leave() unsubscribes the public, private and presence channels of a name; leaveAllChannels() the rest', async () => {
    const name = uid('room');
    const other = uid('other');
    const watcher = echo({ presence: { user_id: 'watcher' } });
    const leaving = new Recorder('leaving');
    await subscribed(watcher.join(name).leaving((u) => leaving.push(u)), 'watcher');
    const e = echo({ presence: { user_id: 'leaver', user_info: { name: 'Leaver' } } });
    const chans = [e.channel(name), e.private(name), e.join(name), e.channel(other), e.private(other)];
    for (const c of chans) await subscribed(c, c.name);
    const occupied = async (c) => (await (await api.get({ path: `/channels/${c}`, params: c.startsWith('presence-') ? { info: 'user_count' } : {} })).json());
    assert.deepEqual(await occupied(`presence-${name}`), { occupied: true, user_count: 2 });

    e.leave(name);
    assert.deepEqual(await leaving.next(() => true, 5000, 'leaving'), { name: 'Leaver' });
    for (const c of [name, `private-${name}`]) {
      await waitFor(async () => (await occupied(c)).occupied === false, { what: `${c} left` });
    }
    assert.deepEqual(await occupied(`presence-${name}`), { occupied: true, user_count: 1 });
    assert.deepEqual(Object.keys(e.connector.channels).sort(), [other, `private-${other}`].sort());

    e.leaveAllChannels();
    for (const c of [other, `private-${other}`]) {
      await waitFor(async () => (await occupied(c)).occupied === false, { what: `${c} left` });
    }
    assert.deepEqual(e.connector.pusher.allChannels(), []);
    assert.equal(e.connectionStatus(), 'connected');
  });

  test('subscription error surfaces through .error()', async () => {
    const name = uid('denied');
    const e = echo({ authorize: () => ({ auth: `${APPS.main.key}:${'0'.repeat(64)}` }) });
    const errs = new Recorder('errors');
    e.private(name).error((err) => errs.push(err));
    // Pusher refuses bad auth with pusher:error (no channel), which Echo cannot see;
    // either way the channel must not be subscribed
    const client = e.connector.pusher;
    await client.log.next((m) => m.event === 'pusher:error' || m.event === 'pusher:subscription_error', 5000, 'refusal');
    assert.equal(client.channel(`private-${name}`).subscribed, false);
  });
});
