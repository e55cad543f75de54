// Many nodes on one Redis (docs/CLUSTER.md): three pixiu servers share the
// Redis at 127.0.0.1:6379 (PIXIU_TEST_REDIS overrides: any of the URL forms,
// redis+sentinel:// and redis+cluster:// included; `npm run test-topologies`
// runs this file over a Sentinel set and a Redis Cluster of its own) under a
// key prefix of their own, and the official clients are spread across them.
// Redis must be running: the file fails, it never skips.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.js';
import { Pool, connected, subscribe, sdk } from './lib/clients.js';
import { deleteKeys, reachable } from './lib/redistopo.js';
import { uid, waitFor, withTimeout } from './lib/wait.js';

const REDIS = process.env.PIXIU_TEST_REDIS ?? 'redis://127.0.0.1:6379/0';
const PREFIX = `pixiu-e2e:${uid('cluster')}:`;

// startNodes starts n servers of one cluster (prefix) and a Pool per node.
async function startNodes(n, prefix = PREFIX) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const srv = await startServer({ cluster: { redis: REDIS, key_prefix: prefix, node_id: `n${i + 1}`, drain_window: '1ms' } });
    nodes.push({ srv, pool: new Pool(srv), api: sdk(srv) });
  }
  return nodes;
}

async function stopNodes(nodes) {
  for (const nd of nodes ?? []) {
    nd.pool.closeAll();
    await nd.srv.stop();
  }
}

// forget deletes the keys a test cluster left in Redis (on every primary of
// a Redis Cluster).
function forget(prefix) {
  deleteKeys(REDIS, prefix);
}

// sentinel publishes through api and waits until ch has it: everything the
// cluster sent ch before has arrived.
async function sentinel(api, ch, name) {
  const tag = uid('s');
  await api.trigger(name, 'sentinel', { tag });
  await ch.log.next((e) => e.event === 'sentinel' && e.data.tag === tag, 5000, `sentinel ${tag}`);
}

const member = (id) => ({ user_id: id, user_info: { name: `User ${id}` } });

let nodes;
before(async () => {
  if (!(await reachable(REDIS))) {
    throw new Error(`the cluster tests need Redis at ${REDIS} (set PIXIU_TEST_REDIS); start it with redis-server`);
  }
  nodes = await startNodes(3);
});
after(async () => {
  await stopNodes(nodes);
  forget(PREFIX);
});

describe('three nodes, one address space', () => {
  test('a publish on node 1 reaches pusher-js on nodes 2 and 3 exactly once, in order', async () => {
    const name = uid('fan');
    const chans = [];
    for (const nd of [nodes[1], nodes[2], nodes[2]]) {
      chans.push(await subscribe(nd.pool.pusher(), name));
    }
    for (let i = 0; i < 30; i++) await nodes[0].api.trigger(name, 'tick', { i });
    for (const ch of chans) {
      await sentinel(nodes[0].api, ch, name);
      const ticks = ch.log.filter((e) => e.event === 'tick').map((e) => e.data.i);
      assert.deepEqual(ticks, [...Array(30).keys()]);
    }
  });

  test('socket_id exclusion and client events cross nodes', async () => {
    const name = uid('private-chat');
    const a = nodes[0].pool.pusher();
    const b = nodes[1].pool.pusher();
    const c = nodes[2].pool.pusher();
    const [chA, chB, chC] = await Promise.all([subscribe(a, name), subscribe(b, name), subscribe(c, name)]);
    await nodes[0].api.trigger(name, 'not-for-b', { x: 1 }, { socket_id: await connected(b) });
    await sentinel(nodes[0].api, chB, name);
    assert.equal(chB.log.filter((e) => e.event === 'not-for-b').length, 0);
    await chC.log.next((e) => e.event === 'not-for-b', 5000, 'not-for-b on node 3');

    chA.trigger('client-typing', { who: 'a' });
    const got = await chC.log.next((e) => e.event === 'client-typing', 5000, 'client event on node 3');
    assert.deepEqual(got.data, { who: 'a' });
    await chB.log.next((e) => e.event === 'client-typing', 5000, 'client event on node 2');
    await sentinel(nodes[0].api, chA, name);
    assert.equal(chA.log.filter((e) => e.event === 'client-typing').length, 0, 'no echo to the sender');
  });

  test('presence: one user on two nodes is one member, removed when its last socket leaves', async () => {
    const name = uid('presence-room');
    const w = nodes[2].pool.pusher({ presence: member('w') });
    const chW = await subscribe(w, name);
    const u1 = nodes[0].pool.pusher({ presence: member('u') });
    await subscribe(u1, name);
    await chW.log.next((e) => e.event === 'pusher:member_added' && e.data.id === 'u', 5000, 'member_added u');

    const u2 = nodes[1].pool.pusher({ presence: member('u') });
    const chU2 = await subscribe(u2, name);
    assert.equal(chU2.members.count, 2, 'subscription_succeeded lists the members of every node');
    assert.deepEqual(chU2.members.get('w').info, { name: 'User w' });
    for (const nd of nodes) {
      const res = await nd.api.get({ path: `/channels/${name}/users` });
      assert.deepEqual((await res.json()).users.map((x) => x.id).sort(), ['u', 'w']);
    }

    u1.disconnect();
    await waitFor(async () => {
      const res = await nodes[2].api.get({ path: '/channels', params: { filter_by_prefix: name, info: 'subscription_count' } });
      return (await res.json()).channels[name]?.subscription_count === 2;
    }, { what: 'u1 gone from the counts' });
    await sentinel(nodes[0].api, chW, name);
    assert.equal(chW.log.filter((e) => e.event === 'pusher:member_removed').length, 0, 'u still has a socket on node 2');
    assert.equal(chW.members.count, 2);

    u2.disconnect();
    const removed = await chW.log.next((e) => e.event === 'pusher:member_removed', 5000, 'member_removed u');
    assert.equal(removed.data.id, 'u');
    await sentinel(nodes[0].api, chW, name);
    assert.equal(chW.log.filter((e) => e.event === 'pusher:member_removed').length, 1);
    assert.equal(chW.members.count, 1);
  });

  test('REST counts are the whole cluster from any node', async () => {
    const name = uid('counted');
    const spread = [nodes[0], nodes[0], nodes[1], nodes[2], nodes[2], nodes[2]];
    await Promise.all(spread.map((nd) => subscribe(nd.pool.pusher(), name)));
    for (const nd of nodes) {
      const one = await (await nd.api.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })).json();
      assert.deepEqual(one, { occupied: true, subscription_count: 6 });
      const list = await (await nd.api.get({ path: '/channels', params: { filter_by_prefix: name, info: 'subscription_count' } })).json();
      assert.deepEqual(list, { channels: { [name]: { subscription_count: 6 } } });
    }
  });

  test('subscription_count events count every node', async () => {
    const name = uid('sc');
    const a = nodes[0].pool.pusher();
    const chA = await subscribe(a, name);
    await subscribe(nodes[1].pool.pusher(), name);
    await subscribe(nodes[2].pool.pusher(), name);
    await chA.log.next((e) => e.event === 'pusher:subscription_count' && e.data.subscription_count === 3, 5000, 'count 3');
  });
});

test('SIGKILL a node: the others see its members leave within 15 s', async () => {
  const prefix = `pixiu-e2e:${uid('kill')}:`;
  let pair;
  try {
    pair = await startNodes(2, prefix);
    const name = uid('presence-k');
    const w = pair[0].pool.pusher({ presence: member('stays') });
    const chW = await subscribe(w, name);
    const doomed = pair[1].pool.pusher({ presence: member('gone'), options: { activityTimeout: 120000 } });
    await subscribe(doomed, name);
    await chW.log.next((e) => e.event === 'pusher:member_added' && e.data.id === 'gone', 5000, 'member_added gone');

    const t0 = Date.now();
    pair[1].srv.child.kill('SIGKILL');
    doomed.disconnect(); // pusher-js would keep retrying the dead port
    const removed = await withTimeout(
      chW.log.next((e) => e.event === 'pusher:member_removed', 15000, 'member_removed after SIGKILL'),
      16000,
      'member_removed after SIGKILL',
    );
    assert.equal(removed.data.id, 'gone');
    assert.ok(Date.now() - t0 <= 15000, `took ${Date.now() - t0} ms`);
    const res = await pair[0].api.get({ path: `/channels/${name}/users` });
    assert.deepEqual((await res.json()).users, [{ id: 'stays' }]);
  } finally {
    await stopNodes(pair);
    forget(prefix);
  }
});
