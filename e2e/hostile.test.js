// Hostile and malformed input over a raw socket (protocol.md §2, §3.3, §3.15):
// the server answers pusher:error (object data) and keeps serving everybody.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, APPS } from './lib/server.js';
import { Pool, subscribe, sdk } from './lib/clients.js';
import { uid, withTimeout } from './lib/wait.js';

let srv;
let pool;
let api;
let watcher; // a pusher-js client that must keep receiving events throughout
let watched;
let watchName;
before(async () => {
  srv = await startServer();
  pool = new Pool(srv);
  api = sdk(srv);
  watchName = uid('watch');
  watcher = pool.pusher();
  watched = await subscribe(watcher, watchName);
});
after(async () => {
  pool?.closeAll();
  await srv?.stop();
});

// stillServing proves the server still delivers to an unrelated client.
async function stillServing() {
  const tag = uid('alive');
  await api.trigger(watchName, 'alive', { tag });
  await watched.log.next((e) => e.event === 'alive' && e.data.tag === tag, 5000, 'alive on the watcher');
  assert.equal(watcher.connection.state, 'connected');
}

function assertError(m) {
  assert.equal(m.event, 'pusher:error', m.raw);
  assert.equal(typeof m.data, 'object', `pusher:error data must be an object: ${m.raw}`);
  assert.notEqual(m.data, null);
  assert.ok(m.data.code === null || Number.isInteger(m.data.code), `code must be null or an integer: ${m.raw}`);
  assert.equal(typeof m.data.message, 'string', m.raw);
}

describe('malformed frames keep the connection', () => {
  const frames = {
    'invalid JSON': '{"event": "pusher:subscribe", "data": ',
    'JSON that is not an object': '[1,2,3]',
    'a bare string': '"hello"',
    'no event field': '{"data":{}}',
    'event not a string': '{"event":42,"data":{}}',
    'unknown event without client- prefix': '{"event":"hello","data":{}}',
    'unknown pusher: event': '{"event":"pusher:bogus","data":{}}',
    'pusher_internal event from a client': '{"event":"pusher_internal:subscription_succeeded","channel":"x","data":"{}"}',
    'subscribe without data': '{"event":"pusher:subscribe"}',
    'subscribe with data null': '{"event":"pusher:subscribe","data":null}',
    'subscribe without channel': '{"event":"pusher:subscribe","data":{}}',
    'subscribe with channel not a string': '{"event":"pusher:subscribe","data":{"channel":["a"]}}',
    'subscribe with data a non-JSON string': '{"event":"pusher:subscribe","data":"nope"}',
    'signin without data': '{"event":"pusher:signin"}',
    'client event without channel': '{"event":"client-x","data":{}}',
  };
  for (const [what, frame] of Object.entries(frames)) {
    test(what, async () => {
      const rc = pool.raw();
      await rc.established();
      const n = rc.log.items.length;
      rc.send(frame);
      const err = await rc.nextError(5000, n);
      assertError(err);
      await rc.roundTrip();
      assert.ok(rc.isOpen, 'connection must stay open');
      // and it still works normally
      const ok = await rc.subscribe(uid('after'));
      assert.equal(ok.event, 'pusher_internal:subscription_succeeded', ok.raw);
    });
  }

  test('a burst of 200 garbage frames', async () => {
    const rc = pool.raw();
    await rc.established();
    for (let i = 0; i < 200; i++) rc.send(i % 2 ? `{"event":"x${i}"` : `{"event":"nope-${i}","data":{}}`);
    await rc.roundTrip(10_000).catch(() => {}); // the server may drop a flooding client
    await stillServing();
  });
});

describe('oversized and odd input', () => {
  test('a 1 MB frame gets pusher:error; other clients are unaffected', async () => {
    const rc = pool.raw();
    await rc.established();
    const n = rc.log.items.length;
    rc.send(JSON.stringify({ event: 'client-big', channel: 'private-x', data: 'x'.repeat(1024 * 1024) }));
    const got = await Promise.race([
      rc.nextError(5000, n),
      rc.closed.then((c) => ({ closedFirst: c })),
    ]);
    assert.ok(!got.closedFirst, `closed (${JSON.stringify(got.closedFirst)}) without a pusher:error first`);
    assertError(got);
    await stillServing();
    // a new connection works as well
    const again = pool.raw();
    await again.established();
  });

  test('a binary frame is not echoed back as binary and does not break the server', async () => {
    const rc = pool.raw();
    await rc.established();
    rc.ws.send(Buffer.from([0xff, 0x00, 0xfe]), { binary: true });
    // binary frames are not supported (§1.1): answered with pusher:error, or a close
    const ans = await Promise.race([rc.nextError(5000, 1), rc.closed.then((c) => ({ closed: c }))]);
    if (!ans.closed) assertError(ans);
    assert.equal(rc.log.filter((m) => m.binary).length, 0, 'server must never send binary frames');
    await stillServing();
  });

  test('invalid UTF-8 in a text frame does not break the server', async () => {
    const rc = pool.raw();
    await rc.established();
    // ws refuses to send invalid UTF-8 as text; a raw frame would need a hand-written client, so send it as a
    // masked text frame over the underlying socket
    const payload = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]); // "{" + invalid 2-byte seq + "}"
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    rc.ws._socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    await Promise.race([rc.roundTrip().catch(() => {}), rc.closed]);
    await stillServing();
  });

  test('huge channel name and huge event name', async () => {
    const rc = pool.raw();
    await rc.established();
    let n = rc.log.items.length;
    rc.send({ event: 'pusher:subscribe', data: { channel: 'c'.repeat(50_000) } });
    const refusal = await rc.next((m) => rc.log.items.indexOf(m) >= n && ['pusher:error', 'pusher:subscription_error'].includes(m.event), 5000, 'refusal');
    if (refusal.event === 'pusher:error') assertError(refusal);
    n = rc.log.items.length;
    rc.send({ event: 'client-' + 'e'.repeat(50_000), channel: 'private-x', data: {} });
    assertError(await rc.nextError(5000, n));
    await rc.roundTrip();
    await stillServing();
  });

  test('deeply nested JSON', async () => {
    const rc = pool.raw();
    await rc.established();
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    rc.send(`{"event":"pusher:subscribe","data":{"channel":"x","auth":${deep}}}`);
    await Promise.race([rc.nextError(5000).catch(() => {}), rc.closed]);
    await stillServing();
  });

  test('garbage HTTP on the WebSocket port and a half-finished upgrade', async () => {
    await new Promise((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1', () => {
        s.write('GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
        s.write('\x00\x01\x02 garbage\r\n\r\n');
        setTimeout(() => s.destroy(), 200);
      });
      s.on('error', () => {});
      s.on('close', resolve);
    });
    await stillServing();
  });

  test('many connections opened and dropped abruptly', async () => {
    const raws = Array.from({ length: 50 }, () => pool.raw());
    await Promise.all(raws.map((r) => r.established()));
    await Promise.all(raws.map((r, i) => r.subscribe(`drop-${i % 5}`)));
    for (const r of raws) r.ws._socket.destroy();
    await stillServing();
    await withTimeout(
      (async () => {
        for (;;) {
          const body = await (await api.get({ path: '/channels', params: { filter_by_prefix: 'drop-' } })).json();
          if (Object.keys(body.channels).length === 0) return;
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      10_000,
      'dropped sockets to be cleaned up',
    );
  });

  test('a client that stops reading does not hold up the others', async () => {
    const name = uid('slow');
    const slow = pool.raw();
    const fast = pool.raw();
    await slow.established();
    await fast.established();
    await slow.subscribe(name);
    await fast.subscribe(name);
    slow.ws._socket.pause(); // stop reading: the kernel buffers fill up, then the server's queue
    const chunk = 'z'.repeat(10_000);
    for (let i = 0; i < 400; i++) await api.trigger(name, 'bulk', `${i}:${chunk}`);
    const last = await fast.next((m) => m.event === 'bulk' && m.data.startsWith('399:'), 15_000, 'all 400 events on the fast client');
    assert.ok(last);
    assert.equal(fast.log.filter((m) => m.event === 'bulk').length, 400);
    await stillServing();
    slow.ws._socket.resume();
  });

  test('a pusher-js client with the wrong key does not disturb others', async () => {
    const c = pool.pusher({ app: { ...APPS.main, key: 'wrong' } });
    await c.errors.next(() => true, 5000, 'error');
    await stillServing();
  });
});
