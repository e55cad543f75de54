// The official clients with channel history on for every channel of every
// app (issue 15): every event frame then carries a top-level "id" field,
// which pusher-js, Laravel Echo and the Node SDK must ignore. This file runs
// the representative suites again in that mode (one process, one env var
// read by lib/server.js); they must pass unchanged.

process.env.PIXIU_E2E_HISTORY = '1';

await import('./channels.test.js');
await import('./client_events.test.js');
await import('./presence.test.js');
await import('./user.test.js');
await import('./echo.test.js');

// The mode is real: event frames carry ids (and pusher-js delivers them as usual).
const { test, before, after } = await import('node:test');
const assert = (await import('node:assert/strict')).default;
const { startServer } = await import('./lib/server.js');
const { Pool, subscribe, sdk } = await import('./lib/clients.js');
const { uid } = await import('./lib/wait.js');

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

test('history on: event frames carry an id, pusher-js delivers the event unchanged', async () => {
  const name = uid('hist');
  const ch = await subscribe(pool.pusher(), name);
  const rc = pool.raw();
  await rc.established();
  await rc.subscribe(name);
  await sdk(srv).trigger(name, 'e', { n: 1 });
  const wire = await rc.next((m) => m.event === 'e', 5000, 'e on raw');
  assert.match(wire.id, /^\d+-\d+$/, `no history id on ${wire.raw}`);
  const got = await ch.log.next((e) => e.event === 'e', 5000, 'e on pusher-js');
  assert.deepEqual(got.data, { n: 1 });
});
