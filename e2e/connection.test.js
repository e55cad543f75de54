// Connection lifecycle (protocol.md §1, §3.1–§3.2): handshake frames, error
// close codes and how the official client reacts to them, liveness.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, APPS } from './lib/server.js';
import { Pool, connected, SOCKET_ID } from './lib/clients.js';
import { sleep, waitFor } from './lib/wait.js';

let srv;
let pool;
before(async () => {
  srv = await startServer();
  pool = new Pool(srv);
});
after(async () => {
  pool?.closeAll();
  await srv?.stop();
});

// expectRefusal asserts the server answers with pusher:error {code} (object
// data) as the first frame and then closes with the same code (§1.2 rule 4).
async function expectRefusal(rc, code) {
  await rc.opened; // the upgrade must complete (§1.2 rule 1)
  const first = await rc.next(() => true, 5000, 'first frame');
  assert.equal(first.event, 'pusher:error', `first frame: ${first.raw}`);
  assert.equal(typeof first.data, 'object', `pusher:error data must be an object: ${first.raw}`);
  assert.equal(first.data.code, code, `pusher:error code: ${first.raw}`);
  assert.equal(typeof first.data.message, 'string');
  const closed = await rc.closed;
  assert.equal(closed.code, code, `close code (reason ${JSON.stringify(closed.reason)})`);
  assert.ok(Buffer.byteLength(closed.reason) <= 123);
}

// pusherJSRefused asserts pusher-js surfaces the code as an error and gives
// up (state disconnected, no reconnect attempt within the 1 s backoff window).
async function pusherJSRefused(client, code) {
  const err = await client.errors.next((e) => (e.error?.data?.code ?? e.data?.code) === code, 5000, `error ${code}`);
  assert.ok(err);
  await client.states.next((s) => s === 'disconnected', 5000, 'state disconnected');
  const n = client.states.items.length;
  await sleep(2500);
  assert.deepEqual(client.states.items.slice(n), [], 'pusher-js must not retry after a 40xx refusal');
}

describe('handshake', () => {
  test('pusher-js connects and gets a socket_id of the form \\d+.\\d+', async () => {
    const a = pool.pusher();
    const b = pool.pusher();
    const [ida, idb] = await Promise.all([connected(a), connected(b)]);
    assert.match(ida, SOCKET_ID);
    assert.match(idb, SOCKET_ID);
    assert.notEqual(ida, idb, 'socket ids must be unique');
  });

  test('first frame is connection_established with string data and activity_timeout 120', async () => {
    const rc = pool.raw();
    const first = await rc.next(() => true, 5000, 'first frame');
    assert.equal(first.event, 'pusher:connection_established');
    assert.equal(first.binary, false, 'frames must be text');
    assert.equal(typeof first.data, 'string', `data must be a JSON string: ${first.raw}`);
    const data = JSON.parse(first.data);
    assert.match(data.socket_id, SOCKET_ID);
    assert.equal(data.activity_timeout, 120);
  });

  for (const protocol of [5, 6, 7]) {
    test(`protocol=${protocol} is accepted`, async () => {
      const rc = pool.raw({ query: `protocol=${protocol}&client=java-client&version=2.4.0` });
      const est = await rc.established();
      assert.match(est.socket_id, SOCKET_ID);
    });
  }

  test('the pusher-channels-protocol-7 sub-protocol (Swift) is selected', async () => {
    const rc = pool.raw({ query: 'client=pusher-websocket-swift&version=10.1.10&protocol=7', wsOptions: {}, protocols: ['pusher-channels-protocol-7'] });
    await rc.opened;
    assert.equal(rc.ws.protocol, 'pusher-channels-protocol-7');
    await rc.established();
  });

  test('unknown query parameters are ignored', async () => {
    const rc = pool.raw({ query: 'protocol=7&client=js&version=8.6.0&flash=false&whatever=1' });
    await rc.established();
  });

  test('pusher:ping is answered with pusher:pong (object data, and no data as Java sends)', async () => {
    const rc = pool.raw();
    await rc.established();
    rc.send({ event: 'pusher:ping', data: {} });
    const pong = await rc.next((m) => m.event === 'pusher:pong', 5000, 'pong');
    assert.equal(typeof pong.data, 'string', `pong data should be a string: ${pong.raw}`);
    const n = rc.log.items.length;
    rc.send({ event: 'pusher:ping' });
    await rc.next((m) => m.event === 'pusher:pong' && rc.log.items.indexOf(m) >= n, 5000, 'second pong');
    assert.ok(rc.isOpen);
  });
});

test('GET /ready and GET /health answer 200', async () => {
  for (const path of ['/ready', '/health']) {
    const res = await fetch(`${srv.base}${path}`);
    assert.equal(res.status, 200, path);
  }
});

describe('refusals (close codes, §1.3)', () => {
  test('unknown app key: pusher:error 4001 then close 4001', async () => {
    await expectRefusal(pool.raw({ key: 'no-such-key' }), 4001);
  });

  test('unknown app key: pusher-js reports 4001 and does not reconnect', async () => {
    const c = pool.pusher({ app: { ...APPS.main, key: 'no-such-key' } });
    await pusherJSRefused(c, 4001);
  });

  test('disabled app: 4003', async () => {
    await expectRefusal(pool.raw({ key: APPS.off.key }), 4003);
    await pusherJSRefused(pool.pusher({ app: APPS.off }), 4003);
  });

  test('over the connection quota: 4004, and the slot is released on close', async () => {
    const a = pool.raw({ key: APPS.small.key });
    const b = pool.raw({ key: APPS.small.key });
    await a.established();
    await b.established();
    await expectRefusal(pool.raw({ key: APPS.small.key }), 4004);
    // other apps are not affected by the small app's quota
    await pool.raw().established();
    a.close();
    await a.closed;
    // the server must free the slot; it may take a moment to notice the close
    await waitFor(
      async () => {
        const c = pool.raw({ key: APPS.small.key });
        const first = await c.next(() => true, 5000, 'first frame');
        if (first.event === 'pusher:connection_established') return true;
        c.close();
        return false;
      },
      { timeout: 5000, interval: 100, what: 'a new small-app connection after one closed' },
    );
    b.close();
  });

  for (const path of ['/app/app-key/extra', '/pusher/app/app-key', '/app']) {
    test(`bad path ${path}: 4005`, async () => {
      await expectRefusal(pool.raw({ path }), 4005);
    });
  }

  for (const protocol of [3, 8]) {
    test(`unsupported protocol=${protocol}: 4007`, async () => {
      await expectRefusal(pool.raw({ query: `protocol=${protocol}&client=js&version=1.0.0` }), 4007);
    });
  }
});

describe('liveness (§3.2) with activity_timeout 2s, pong_timeout 2s', () => {
  let fast;
  let fastPool;
  before(async () => {
    fast = await startServer({ activity_timeout: 2, pong_timeout: 2 });
    fastPool = new Pool(fast);
  });
  after(async () => {
    fastPool?.closeAll();
    await fast?.stop();
  });

  test('connection_established carries the configured activity_timeout', async () => {
    const rc = fastPool.raw();
    const est = await rc.established();
    assert.equal(est.activity_timeout, 2);
  });

  test('a silent client that answers protocol pings stays connected', async () => {
    const rc = fastPool.raw();
    await rc.established();
    // two protocol-level pings means it survived a whole ping/pong cycle
    await waitFor(() => rc.pings >= 2, { timeout: 12_000, what: 'two WebSocket ping frames' });
    assert.ok(rc.isOpen, 'connection must stay open');
    await rc.roundTrip();
  });

  test('a client that never answers is closed with 4201', async () => {
    const rc = fastPool.raw({ wsOptions: { autoPong: false } });
    await rc.established();
    const closed = await Promise.race([
      rc.closed,
      sleep(15_000).then(() => ({ code: 'still open after 15 s' })),
    ]);
    assert.equal(closed.code, 4201);
  });
});

describe('shutdown', () => {
  test('stopping the server closes client sockets with 4200 (reconnect immediately)', async () => {
    // drain_window spreads the 4200 closes over time (config.Cluster.DrainWindow)
    const doomed = await startServer({ cluster: { drain_window: '1s' } });
    const p = new Pool(doomed);
    try {
      const rc = p.raw();
      await rc.established();
      const c = p.pusher();
      await connected(c);
      const t0 = Date.now();
      const exited = new Promise((r) => doomed.child.once('exit', () => r(Date.now() - t0)));
      const stopped = doomed.stop();
      const closed = await Promise.race([rc.closed, sleep(5000).then(() => ({ code: 'not closed within 5 s' }))]);
      assert.equal(closed.code, 4200, `close reason ${JSON.stringify(closed.reason)}`);
      const pjs = await c.errors.next((e) => (e.error?.data?.code ?? e.data?.code) === 4200, 5000, 'pusher-js sees 4200');
      assert.ok(pjs);
      const ms = await exited;
      await stopped;
      assert.equal(doomed.child.exitCode, 0, `exit code after SIGTERM (signal ${doomed.child.signalCode}); output:\n${doomed.logs().slice(-2000)}`);
      assert.ok(ms < 4000, `exit took ${ms} ms with a 1 s drain window`);
    } finally {
      p.closeAll();
      await doomed.stop();
    }
  });
});
