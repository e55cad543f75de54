// The official clients' public API surface the other files do not reach:
// pusher-js with HTTP auth endpoints built on the Node SDK (authorizeChannel,
// authenticateUser), the subscription_error statuses of a failing endpoint,
// allChannels/unsubscribe/resubscribe/disconnect/connect, the connection state
// machine across a server restart, the Node SDK's RequestError on 4xx, batch
// publishes to encrypted channels, and the Node SDK's webhook getData().

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import PusherJS from 'pusher-js';
import PusherServer from 'pusher';
import { startServer, APPS } from './lib/server.js';
import { Pool, connected, subscribe, sdk, sdkStatus, signIn } from './lib/clients.js';
import { Recorder, uid, waitFor, withTimeout } from './lib/wait.js';

let srv;
let pool;
let api;
let authSrv;
before(async () => {
  srv = await startServer();
  pool = new Pool(srv);
  api = sdk(srv);
  authSrv = await startAuthEndpoint(api);
});
after(async () => {
  pool?.closeAll();
  await srv?.stop();
  await authSrv?.close();
});

// startAuthEndpoint serves the two endpoints a web app exposes to pusher-js,
// written as the Node SDK's README shows: POST /pusher/auth answers
// authorizeChannel(socket_id, channel_name[, presenceData]) and
// POST /pusher/user-auth answers authenticateUser(socket_id, user). The
// channel name "private-deny-<status>-…" (or ?user=deny-<status>-… for
// sign-in) answers that HTTP status instead.
async function startAuthEndpoint(server) {
  const calls = new Recorder('auth endpoint calls');
  const s = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const socketId = form.get('socket_id');
      const channel = form.get('channel_name');
      calls.push({ path: req.url, socketId, channel });
      const user = new URL(req.url, 'http://x').searchParams.get('user') ?? 'http-user';
      const deny = /^(?:private-|presence-)?deny-(\d{3})-/.exec(channel ?? user);
      if (deny) {
        res.writeHead(Number(deny[1]), { 'content-type': 'text/plain' }).end('forbidden by the app');
        return;
      }
      let out;
      try {
        if (req.url.startsWith('/pusher/user-auth')) {
          out = server.authenticateUser(socketId, { id: user, user_info: { via: 'http' } });
        } else if (channel.startsWith('presence-')) {
          out = server.authorizeChannel(socketId, channel, { user_id: 'http-member', user_info: { via: 'http' } });
        } else {
          out = server.authorizeChannel(socketId, channel);
        }
      } catch (err) {
        res.writeHead(500).end(err.message);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${s.address().port}`;
  return {
    base,
    calls,
    close: () => {
      s.closeAllConnections?.();
      return new Promise((r) => s.close(r));
    },
  };
}

// httpClient is pusher-js configured like a browser app: auth over HTTP.
function httpClient(userQuery = '', options = {}) {
  return pool.pusher({
    options: {
      channelAuthorization: { endpoint: `${authSrv.base}/pusher/auth`, transport: 'ajax' },
      userAuthentication: { endpoint: `${authSrv.base}/pusher/user-auth${userQuery}`, transport: 'ajax' },
      ...options,
    },
  });
}

describe('pusher-js with HTTP auth endpoints (Node SDK authorizeChannel / authenticateUser)', () => {
  test('private, presence and encrypted channels subscribe through the endpoint', async () => {
    const client = httpClient();
    const priv = await subscribe(client, uid('private-http'));
    const pres = await subscribe(client, uid('presence-http'));
    const enc = await subscribe(client, uid('private-encrypted-http'));
    assert.equal(pres.members.me.id, 'http-member');
    assert.deepEqual(pres.members.me.info, { via: 'http' });
    await api.trigger([priv.name, pres.name], 'hello', { n: 1 });
    await api.trigger(enc.name, 'sealed', { n: 2 });
    assert.deepEqual((await priv.log.next((e) => e.event === 'hello', 5000, 'hello private')).data, { n: 1 });
    assert.deepEqual((await pres.log.next((e) => e.event === 'hello', 5000, 'hello presence')).data, { n: 1 });
    assert.deepEqual((await enc.log.next((e) => e.event === 'sealed', 5000, 'sealed')).data, { n: 2 });
  });

  test('signin() through the endpoint, then sendToUser reaches user.bind', async () => {
    const id = uid('http-signin');
    const client = httpClient(`?user=${id}`);
    await connected(client);
    const got = new Recorder('user events');
    client.user.bind('note', (d) => got.push(d));
    client.signin();
    await waitFor(() => client.user.serverToUserChannel?.subscribed, { what: 'signed in and subscribed to #server-to-user' });
    assert.equal(client.user.user_data.id, id);
    assert.deepEqual(client.user.user_data.user_info, { via: 'http' });
    await api.sendToUser(id, 'note', { to: id });
    assert.deepEqual(await got.next(() => true, 5000, 'note'), { to: id });
  });

  for (const status of [401, 403, 500]) {
    test(`an endpoint answering ${status}: pusher:subscription_error {type AuthError, status ${status}}; nothing reaches the server`, async () => {
      const client = httpClient();
      await connected(client);
      const name = uid(`private-deny-${status}`);
      const ch = client.subscribe(name);
      const err = await withTimeout(new Promise((r) => ch.bind('pusher:subscription_error', r)), 5000, 'subscription_error');
      assert.equal(err.type, 'AuthError', JSON.stringify(err));
      assert.equal(err.status, status, JSON.stringify(err));
      assert.equal(ch.subscribed, false);
      assert.equal(client.log.filter((m) => m.channel === name).length, 0, 'no frame about the channel from the server');
      assert.deepEqual(await (await api.get({ path: `/channels/${name}` })).json(), { occupied: false });
      assert.equal(client.connection.state, 'connected');
    });
  }

  test('a sign-in endpoint answering 403: user emits pusher:signin_error {type AuthError, status 403}; the connection stays up, not signed in', async () => {
    const id = uid('deny-403');
    const client = httpClient(`?user=${id}`);
    await connected(client);
    const errored = withTimeout(new Promise((r) => client.user.bind('pusher:signin_error', r)), 5000, 'signin_error');
    client.signin();
    const err = await errored;
    assert.equal(err.type, 'AuthError', JSON.stringify(err));
    assert.equal(err.status, 403, JSON.stringify(err));
    assert.equal(client.user.user_data, null);
    assert.equal(client.log.filter((m) => m.event === 'pusher:signin_success').length, 0);
    assert.equal(client.connection.state, 'connected');
  });
});

describe('pusher-js channel management', () => {
  test('allChannels(), unsubscribe and resubscribe on the same connection', async () => {
    const client = pool.pusher();
    const a = uid('all-a');
    const b = uid('private-all-b');
    const chA = await subscribe(client, a);
    await subscribe(client, b);
    assert.deepEqual(client.allChannels().map((c) => c.name).sort(), [a, b].sort());

    client.unsubscribe(a);
    assert.deepEqual(client.allChannels().map((c) => c.name), [b]);
    await waitFor(async () => (await (await api.get({ path: `/channels/${a}` })).json()).occupied === false, { what: `${a} unoccupied after unsubscribe` });
    await api.trigger(a, 'gone', {});

    const again = await subscribe(client, a);
    assert.notEqual(again, chA, 'a new Channel object after unsubscribe');
    assert.deepEqual(await (await api.get({ path: `/channels/${a}`, params: { info: 'subscription_count' } })).json(), { occupied: true, subscription_count: 1 });
    await api.trigger(a, 'back', { ok: true });
    assert.deepEqual((await again.log.next((e) => e.event === 'back', 5000, 'back')).data, { ok: true });
    assert.equal(chA.log.filter((e) => e.event === 'gone' || e.event === 'back').length, 0, 'the old channel object gets nothing');
    assert.equal(again.log.filter((e) => e.event === 'gone').length, 0, 'nothing published while unsubscribed');
  });

  test('disconnect() ends the socket server-side; connect() resubscribes every channel with a new socket id', async () => {
    const client = pool.pusher();
    const obs = pool.pusher({ presence: { user_id: 'observer' } });
    const pub = uid('dc-pub');
    const pres = uid('presence-dc');
    await subscribe(client, pub);
    const first = client.connection.socket_id;
    const obsPres = await subscribe(obs, pres);
    const member = pool.pusher({ presence: { user_id: 'dc-member' } });
    await subscribe(member, pres);
    await obsPres.log.next((e) => e.event === 'pusher:member_added', 5000, 'member_added');

    client.disconnect();
    member.disconnect();
    assert.equal(client.connection.state, 'disconnected');
    await waitFor(async () => (await (await api.get({ path: `/channels/${pub}` })).json()).occupied === false, { what: `${pub} vacated after disconnect()` });
    const removed = await obsPres.log.next((e) => e.event === 'pusher:member_removed', 5000, 'member_removed after disconnect()');
    assert.equal(removed.data.id, 'dc-member');

    const n = client.states.items.length;
    client.connect();
    await client.states.next((s) => s === 'connected' && client.states.items.lastIndexOf(s) >= n, 5000, 'connected after connect()');
    assert.notEqual(client.connection.socket_id, first, 'a new socket id');
    const ch = client.channel(pub);
    await waitFor(() => ch.subscribed, { what: `${pub} subscribed again after connect()` });
    await api.trigger(pub, 'after-connect', {});
    await ch.log.next((e) => e.event === 'after-connect', 5000, 'after-connect');
  });
});

describe('pusher-js across a server restart', () => {
  test('connected → connecting → unavailable → connected; channels resubscribe with fresh auth, the user signs in again', async () => {
    // a short drain window: SIGTERM closes the sockets (4200) within 100 ms
    const own = await startServer({ cluster: { drain_window: '100ms' } });
    const p = new Pool(own);
    let again;
    try {
      const client = p.pusher({ options: { unavailableTimeout: 1000 }, presence: { user_id: 'phoenix' }, user: { id: 'phoenix' } });
      const userEvents = new Recorder('user events');
      client.user.bind('after-restart', (d) => userEvents.push(d));
      await signIn(client);
      const pub = uid('restart-pub');
      const priv = uid('private-restart');
      const pres = uid('presence-restart');
      await subscribe(client, pub);
      await subscribe(client, priv);
      await subscribe(client, pres);
      const before = client.connection.socket_id;
      const n = client.states.items.length;
      await own.stop();
      await client.states.next((s) => s === 'unavailable', 10_000, 'unavailable while the server is down');
      // pusher-js retries a refused ws connection after its 15 s strategy timeout
      again = await startServer({}, { port: own.port });
      await client.states.next((s) => s === 'connected' && client.states.items.lastIndexOf(s) >= n, 20_000, 'connected again');
      const seen = client.states.items.slice(n);
      assert.deepEqual([...new Set(seen)].filter((s) => s !== 'connecting' && s !== 'unavailable' && s !== 'connected'), [], `states: ${seen}`);
      assert.equal(seen[0], 'connecting', `first state after the server went away: ${seen}`);
      assert.ok(seen.indexOf('unavailable') < seen.lastIndexOf('connected'), `states: ${seen}`);
      assert.notEqual(client.connection.socket_id, before);
      for (const name of [pub, priv, pres]) {
        await waitFor(() => client.channel(name).subscribed, { what: `${name} resubscribed` });
      }
      const api2 = sdk(again);
      const users = await (await api2.get({ path: `/channels/${pres}/users` })).json();
      assert.deepEqual(users, { users: [{ id: 'phoenix' }] });
      // pusher-js signs in again on the new connection
      await waitFor(() => client.user.serverToUserChannel?.subscribed, { what: 'signed in again' });
      await api2.sendToUser('phoenix', 'after-restart', { ok: 1 });
      assert.deepEqual(await userEvents.next(() => true, 5000, 'user event after the restart'), { ok: 1 });
      await api2.trigger([pub, priv, pres], 'reborn', {});
      for (const name of [pub, priv, pres]) {
        await waitFor(() => client.log.find((m) => m.event === 'reborn' && m.channel === name), { what: `reborn on ${name}` });
      }
    } finally {
      p.closeAll();
      await own.stop();
      await again?.stop();
    }
  });
});

describe('Node SDK', () => {
  test('4xx answers reject with a RequestError carrying status, url and body', async () => {
    const wrong = sdk(srv, { ...APPS.main, secret: 'not-the-secret' });
    for (const [what, call, status] of [
      ['wrong secret', () => wrong.trigger(uid('c'), 'e', {}), 401],
      ['user_count on a public channel', () => api.get({ path: `/channels/${uid('pub')}`, params: { info: 'user_count' } }), 400],
      ['users of a public channel', () => api.get({ path: `/channels/${uid('pub')}/users` }), 400],
      ['unknown app', () => sdk(srv, { ...APPS.main, id: 'nope-id' }).trigger(uid('c'), 'e', {}), 404],
    ]) {
      const err = await call().then(
        () => assert.fail(`${what}: resolved`),
        (e) => e,
      );
      assert.ok(err instanceof PusherServer.RequestError, `${what}: ${err}`);
      assert.equal(err.status, status, `${what}: ${err.body}`);
      assert.match(err.message, new RegExp(`${status}`), what);
      assert.ok(err.url.startsWith(`${srv.base}/apps/`), err.url);
      assert.ok(typeof err.body === 'string' && err.body.length > 0, `${what}: body ${JSON.stringify(err.body)}`);
    }
  });

  test('triggerBatch encrypts per event on encrypted channels; pusher-js decrypts', async () => {
    const enc = uid('private-encrypted-batch');
    const plain = uid('batch-plain');
    const client = pool.pusher();
    const [chE, chP] = await Promise.all([subscribe(client, enc), subscribe(client, plain)]);
    const r = await sdkStatus(
      api.triggerBatch([
        { channel: enc, name: 'secret', data: { s: 1 } },
        { channel: plain, name: 'open', data: { p: 2 } },
      ]),
    );
    assert.equal(r.status, 200, r.body);
    assert.deepEqual((await chE.log.next((e) => e.event === 'secret', 5000, 'secret')).data, { s: 1 });
    assert.deepEqual((await chP.log.next((e) => e.event === 'open', 5000, 'open')).data, { p: 2 });
    const wire = client.log.find((m) => m.event === 'secret');
    assert.deepEqual(Object.keys(typeof wire.data === 'string' ? JSON.parse(wire.data) : wire.data).sort(), ['ciphertext', 'nonce']);
  });

  test('sendToUser data over 10 KB is refused with 413 like trigger', async () => {
    const big = 'x'.repeat(10 * 1024 + 1);
    const r = await sdkStatus(api.sendToUser(uid('u'), 'big', big));
    assert.equal(r.status, 413, r.body);
  });
});
