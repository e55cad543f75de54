// Redis topologies of the e2e suite's own: a primary + replica watched by
// two Sentinels (redis+sentinel://) and a three-primary Redis Cluster
// (redis+cluster://), each on free loopback ports under a temporary
// directory, and the helpers cluster.test.js needs to read any of the URL
// forms (reachability, deleting a prefix's keys on every primary).
//
// Run as a script (`npm run test-topologies`, called by `make test-e2e`) it
// starts both topologies, runs cluster.test.js against each (in parallel, the
// output of each printed whole when it ends) and stops every process it
// started, also when a run fails or the script is interrupted. A missing
// redis-server or redis-cli fails it, loudly.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';
import { freePort } from './ports.js';

const MASTER = 'pixiu-e2e';

// parseRedisURL reads the URL forms of cluster.redis (docs/CLUSTER.md):
// redis://, rediss://, redis+sentinel://, redis+cluster:// (host lists for
// the last two). kind is 'single', 'sentinel' or 'cluster'.
export function parseRedisURL(url) {
  const m = /^(rediss?)(\+sentinel|\+cluster)?:\/\/(?:([^@/]*)@)?([^/?]+)(\/[^?]*)?/.exec(url);
  if (!m) throw new Error(`not a Redis URL: ${url}`);
  const kind = m[2] ? m[2].slice(1) : 'single';
  const addrs = m[4].split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    const host = i > 0 ? hp.slice(0, i) : hp;
    return { host: host.replace(/^\[|\]$/g, ''), port: i > 0 ? Number(hp.slice(i + 1)) : (kind === 'sentinel' ? 26379 : 6379) };
  });
  const parts = (m[5] ?? '').split('/').filter(Boolean);
  let master = '';
  let db = 0;
  if (kind === 'sentinel') {
    master = parts[0] ?? '';
    db = Number(parts[1] ?? 0);
  } else if (kind === 'single') {
    db = Number(parts[0] ?? 0);
  }
  const auth = m[3] ? decodeURIComponent(m[3].slice(m[3].indexOf(':') + 1)) : '';
  return { kind, tls: m[1] === 'rediss', addrs, master, db, password: auth };
}

function cli(addr, args, { password = '' } = {}) {
  const r = spawnSync('redis-cli', ['-h', addr.host, '-p', String(addr.port), ...args], {
    encoding: 'utf8',
    timeout: 10_000,
    env: password ? { ...process.env, REDISCLI_AUTH: password } : process.env,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`redis-cli -p ${addr.port} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

// reachable reports whether some server of the URL accepts a TCP connection.
export async function reachable(url) {
  const { addrs } = parseRedisURL(url);
  for (const a of addrs) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: a.host, port: a.port });
      s.setTimeout(2000);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
      s.once('timeout', () => { s.destroy(); resolve(false); });
    });
    if (ok) return true;
  }
  return false;
}

// primaries lists the servers that hold the data of a URL: the one server,
// the primary the Sentinels name, or every primary of a Redis Cluster.
export function primaries(url) {
  const u = parseRedisURL(url);
  if (u.kind === 'single') return [u.addrs[0]];
  if (u.kind === 'sentinel') {
    for (const s of u.addrs) {
      try {
        const [host, port] = cli(s, ['SENTINEL', 'get-master-addr-by-name', u.master]).trim().split('\n');
        if (host && port) return [{ host, port: Number(port) }];
      } catch {}
    }
    throw new Error(`no Sentinel of ${url} names the primary ${u.master}`);
  }
  for (const seed of u.addrs) {
    try {
      const out = cli(seed, ['CLUSTER', 'NODES'], u);
      return out.trim().split('\n').map((l) => l.split(' '))
        .filter((f) => f[2].split(',').includes('master') && !f[2].includes('fail'))
        .map((f) => {
          const hp = f[1].split('@')[0];
          const i = hp.lastIndexOf(':');
          return { host: hp.slice(0, i) || seed.host, port: Number(hp.slice(i + 1)) };
        });
    } catch {}
  }
  throw new Error(`no node of ${url} answers CLUSTER NODES`);
}

// deleteKeys deletes the keys under prefix on every primary of url. On a
// Redis Cluster each key goes in its own DEL (keys of different slots cannot
// share one, even on one node).
export function deleteKeys(url, prefix) {
  const u = parseRedisURL(url);
  const db = u.kind === 'cluster' ? [] : ['-n', String(u.db)];
  for (const p of primaries(url)) {
    const keys = cli(p, [...db, '--scan', '--pattern', `${prefix}*`], u).split('\n').filter(Boolean);
    const per = u.kind === 'cluster' ? 1 : 500;
    for (let i = 0; i < keys.length; i += per) cli(p, [...db, 'DEL', ...keys.slice(i, i + per)], u);
  }
}

function requireBinaries() {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new Error(`the Redis topology tests need ${bin} (7.0+) on PATH: ${r.error?.message ?? r.stderr}`);
    }
  }
}

// Procs owns the redis-server processes of one topology and its directory.
class Procs {
  constructor(name) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `pixiu-e2e-${name}-`));
    this.children = [];
    this.onExit = () => {
      this.children.forEach((c) => c.kill('SIGKILL'));
      fs.rmSync(this.dir, { recursive: true, force: true });
    };
    process.on('exit', this.onExit);
  }

  spawn(args) {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    c.exited = new Promise((resolve) => c.once('exit', resolve));
    c.stderr.setEncoding('utf8');
    c.stderr.on('data', (d) => process.stderr.write(d));
    this.children.push(c);
    return c;
  }

  // server starts a data server (or a Sentinel, given its config file) in
  // its own subdirectory and waits until it answers PING.
  async server(port, extra) {
    const dir = fs.mkdtempSync(path.join(this.dir, `${port}-`));
    const args = extra[0]?.endsWith('.conf') ? [extra[0], ...extra.slice(1)] : [...extra];
    this.spawn([...args, '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no', '--save', '',
      '--appendonly', 'no', '--dir', dir, '--logfile', path.join(dir, 'redis.log')]);
    const addr = { host: '127.0.0.1', port };
    await waitFor(() => cli(addr, ['PING']).trim() === 'PONG', { timeout: 10_000, what: `redis-server on ${port}` });
    return addr;
  }

  async stop() {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    await Promise.all(this.children.map((c) => c.exited));
    this.children = [];
    process.off('exit', this.onExit);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// startSentinel starts a primary, a replica of it and two Sentinels
// watching the primary, and waits until the replica is in sync and both
// Sentinels name the primary. It returns the redis+sentinel:// URL (both
// Sentinels listed) and stop().
export async function startSentinel() {
  requireBinaries();
  const p = new Procs('sentinel');
  try {
    const primary = await p.server(await freePort(), []);
    const replica = await p.server(await freePort(), ['--replicaof', primary.host, String(primary.port)]);
    const sentinels = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const conf = path.join(p.dir, `sentinel-${port}.conf`);
      fs.writeFileSync(conf, [
        `sentinel monitor ${MASTER} ${primary.host} ${primary.port} 1`,
        `sentinel down-after-milliseconds ${MASTER} 5000`,
        '',
      ].join('\n'));
      sentinels.push(await p.server(port, [conf, '--sentinel']));
    }
    await waitFor(() => /master_link_status:up/.test(cli(replica, ['INFO', 'replication'])),
      { timeout: 30_000, what: 'the replica in sync' });
    for (const s of sentinels) {
      await waitFor(() => cli(s, ['SENTINEL', 'get-master-addr-by-name', MASTER]).includes(String(primary.port)),
        { timeout: 10_000, what: `Sentinel ${s.port} naming the primary` });
    }
    const hosts = sentinels.map((s) => `${s.host}:${s.port}`).join(',');
    return { name: 'sentinel', url: `redis+sentinel://${hosts}/${MASTER}/0`, stop: () => p.stop() };
  } catch (err) {
    await p.stop();
    throw err;
  }
}

// startCluster starts n Redis Cluster primaries (no replicas), creates the
// cluster with redis-cli and waits until every node reports it whole. It
// returns the redis+cluster:// URL (every node a seed) and stop().
export async function startCluster(n = 3) {
  requireBinaries();
  const p = new Procs('cluster');
  try {
    const nodes = [];
    for (let i = 0; i < n; i++) {
      const port = await freePort();
      const bus = await freePort();
      nodes.push(await p.server(port, ['--cluster-enabled', 'yes', '--cluster-port', String(bus),
        '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']));
    }
    const hosts = nodes.map((a) => `${a.host}:${a.port}`);
    const r = spawnSync('redis-cli', ['--cluster', 'create', ...hosts, '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 60_000 });
    if (r.error || r.status !== 0) throw new Error(`redis-cli --cluster create: ${r.error?.message ?? ''}${r.stdout}${r.stderr}`);
    for (const a of nodes) {
      await waitFor(() => {
        const info = cli(a, ['CLUSTER', 'INFO']);
        return ['cluster_state:ok', 'cluster_slots_ok:16384', `cluster_known_nodes:${n}`].every((w) => info.includes(w));
      }, { timeout: 30_000, what: `cluster node ${a.port} to see the whole cluster` });
    }
    return { name: 'cluster', url: `redis+cluster://${hosts.join(',')}`, stop: () => p.stop() };
  } catch (err) {
    await p.stop();
    throw err;
  }
}

// runFile runs one e2e test file with PIXIU_TEST_REDIS=url and resolves to
// its exit code and output; the child is added to running until it exits.
function runFile(file, url, running) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-timeout=120000', '--test-force-exit', file], {
      cwd: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
      env: { ...process.env, PIXIU_TEST_REDIS: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code: code ?? 1, signal, out });
    });
  });
}

async function main() {
  const files = process.argv.slice(2).length ? process.argv.slice(2) : ['cluster.test.js'];
  const topos = [];
  const running = new Set(); // test processes
  let failed = false;
  const stopAll = async () => {
    while (topos.length) await topos.pop().stop();
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      // The test processes stop their pixiu servers on SIGTERM (server.js).
      const exited = [...running].map((c) => new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); }));
      await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 5000))]);
      await stopAll();
      process.exit(130);
    });
  }
  try {
    const started = await Promise.allSettled([startSentinel(), startCluster(3)]);
    for (const s of started) if (s.status === 'fulfilled') topos.push(s.value);
    const bad = started.find((s) => s.status === 'rejected');
    if (bad) throw bad.reason;
    const t0 = Date.now();
    const runs = topos.flatMap((t) => files.map((f) => ({ t, f })));
    await Promise.all(runs.map(async ({ t, f }) => {
      const res = await runFile(f, t.url, running);
      // The file deletes what it wrote (forget): nothing of it may be left
      // on any primary.
      const left = primaries(t.url).flatMap((a) => cli(a, ['--scan', '--pattern', 'pixiu-e2e:*']).split('\n').filter(Boolean));
      if (left.length) res.out += `\nredistopo: ${left.length} keys left behind on ${t.name}, e.g. ${left.slice(0, 3).join(' ')}\n`;
      const ok = res.code === 0 && left.length === 0;
      failed ||= !ok;
      process.stdout.write(`\n===== ${f} over ${t.name} (${t.url}): ${ok ? 'ok' : `FAILED (exit ${res.code}${res.signal ? `, ${res.signal}` : ''})`}, ${((Date.now() - t0) / 1000).toFixed(1)} s\n${res.out}`);
    }));
  } catch (err) {
    failed = true;
    console.error(`redistopo: ${err.stack ?? err}`);
  } finally {
    await stopAll();
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
