// The container image end to end (issue 12 §2), with Debian's podman:
// builds the FROM-scratch image of deploy/container/Containerfile.local from
// the tested binary, checks its configuration (non-root user, volume,
// healthcheck, entrypoint) and that it matches the Containerfile's final
// stage, runs it with a named volume and a published loopback port, creates an
// app with the CLI inside the container, connects pusher-js with it, publishes
// with the Node SDK, runs the image's healthcheck, restarts the container
// (SIGTERM: sockets are closed with 4200) and finds the app still there.
//
// podman (and runc) must be installed: `.ci/run` installs them. Without them
// every test here fails; nothing is skipped.
//
// podman runs with its own storage under a temporary directory (vfs driver,
// removed at the end) and these options, which this sandbox needs and which
// are harmless elsewhere: cgroupfs (no systemd), events in a file, runc (crun
// refuses the hybrid cgroup layout here), and explicit open-file/process
// limits no higher than the current ones (root here lacks CAP_SYS_RESOURCE,
// and podman's defaults would raise them).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import PusherJS from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';
import { REPO_DIR, freePort } from '../lib/server.js';
import { Recorder, waitFor, withTimeout } from '../lib/wait.js';

PusherJS.logToConsole = false;

const IMAGE = 'localhost/pixiu-e2e:test';
const CONTAINERFILE = path.join(REPO_DIR, 'Containerfile');
const LOCAL_CONTAINERFILE = path.join(REPO_DIR, 'deploy/container/Containerfile.local');
const CONSOLE_PASSWORD = 'container-e2e-console-password';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pixiu-podman-'));
const suffix = `${process.pid}`;
const NAME = `pixiu-e2e-${suffix}`;
const VOLUME = `pixiu-e2e-data-${suffix}`;

function sh(cmd, args, { timeout = 300_000, input } = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout, input, maxBuffer: 64 << 20 });
  if (res.error) throw new Error(`${cmd} ${args.join(' ')}: ${res.error.message}`);
  return res;
}

function need(cmd) {
  const res = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new Error(`${cmd} is required for the container test (apt-get install podman runc; .ci/run installs them)`);
  }
}

// podman runs podman with the test's own storage; it throws on a non-zero
// exit unless ok lists the accepted codes.
function podman(args, { ok = [0], timeout, input } = {}) {
  const global = ['--root', path.join(work, 'storage'), '--runroot', path.join(work, 'run'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc'];
  const res = sh('podman', [...global, ...args], { timeout, input });
  if (!ok.includes(res.status)) {
    throw new Error(`podman ${args.join(' ')} exited ${res.status}:\n${res.stdout}${res.stderr}`);
  }
  return res;
}

function limit(flag) {
  const res = sh('sh', ['-c', `ulimit -H${flag}`]);
  const v = res.stdout.trim();
  return v === 'unlimited' ? 1048576 : Number(v);
}

// binaryForImage: the tested binary ($PIXIU_BIN, static from `make build`),
// else a static one built by make's binary target.
function binaryForImage() {
  if (process.env.PIXIU_BIN) return path.resolve(process.env.PIXIU_BIN);
  const out = path.join(work, 'pixiu-static');
  const res = sh('make', ['-C', REPO_DIR, '--no-print-directory', 'binary', `PIXIU_OUT=${out}`]);
  if (res.status !== 0) throw new Error(`make binary: ${res.stdout}${res.stderr}`);
  return out;
}

// finalStage returns the lines of a Containerfile from the final-stage marker on.
function finalStage(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const at = lines.findIndex((l) => l.startsWith('# --- final stage'));
  assert.ok(at >= 0, `${file} has no final-stage marker`);
  return lines.slice(at).join('\n').trim();
}

let port;
let app; // created with the CLI inside the container
const clients = new Set();

async function waitReady(what) {
  await waitFor(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  }, { timeout: 90_000, interval: 200, what: `${what}: GET /ready on the container -> 200 (logs: ${logs()})` });
}

function logs() {
  try {
    const res = podman(['logs', NAME], { ok: [0, 125] });
    return (res.stdout + res.stderr).slice(-4000);
  } catch (err) {
    return err.message;
  }
}

function pusherClient(key) {
  const client = new PusherJS(key, {
    cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true,
  });
  clients.add(client);
  return client;
}

function sdk() {
  return new PusherServer({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: false });
}

async function subscribed(client, channelName, events) {
  const channel = client.subscribe(channelName);
  channel.bind('update', (d) => events.push(d));
  await withTimeout(new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', resolve);
    channel.bind('pusher:subscription_error', reject);
  }), 30_000, `subscription to ${channelName}`);
}

describe('container image (podman, FROM scratch)', { concurrency: false }, () => {
  before(async () => {
    need('podman');
    need('runc');
    port = await freePort();
    const ctx = path.join(work, 'context');
    fs.mkdirSync(path.join(ctx, 'data'), { recursive: true });
    fs.copyFileSync(binaryForImage(), path.join(ctx, 'pixiu'));
    fs.chmodSync(path.join(ctx, 'pixiu'), 0o755);
    podman(['build', '--format', 'docker', '-f', LOCAL_CONTAINERFILE, '-t', IMAGE, ctx]);
  }, { timeout: 600_000 });

  after(() => {
    for (const c of clients) c.disconnect();
    try {
      podman(['rm', '-f', '-t', '0', NAME], { ok: [0, 1, 125] });
      podman(['volume', 'rm', '-f', VOLUME], { ok: [0, 1, 125] });
      podman(['rmi', '-f', IMAGE], { ok: [0, 1, 125] });
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  test('the image: non-root user, /data volume, shell-less healthcheck, PIXIU_* env, same final stage as the Containerfile', () => {
    assert.equal(finalStage(LOCAL_CONTAINERFILE), finalStage(CONTAINERFILE),
      'Containerfile.local and the Containerfile differ after the final-stage marker');
    const [img] = JSON.parse(podman(['image', 'inspect', IMAGE]).stdout);
    const cfg = img.Config;
    assert.equal(cfg.User, '65532:65532');
    assert.deepEqual(Object.keys(cfg.Volumes ?? {}), ['/data']);
    assert.deepEqual(cfg.Entrypoint, ['/pixiu']);
    assert.deepEqual(cfg.Cmd, ['serve']);
    assert.equal(cfg.StopSignal, 'SIGTERM');
    assert.ok(cfg.Env.includes('PIXIU_STORE_PATH=/data/pixiu.db'), `env ${cfg.Env}`);
    assert.ok(cfg.Env.includes('PIXIU_HOST=0.0.0.0'), `env ${cfg.Env}`);
    assert.deepEqual(Object.keys(cfg.ExposedPorts ?? {}), ['6001/tcp']);
    assert.deepEqual((img.Healthcheck ?? img.HealthCheck)?.Test, ['CMD', '/pixiu', 'health'], `healthcheck ${JSON.stringify(img.HealthCheck)}`);
    // Nothing but the binary and the data directory.
    assert.equal(img.RootFS.Layers.length, 2, `layers ${img.RootFS.Layers}`);
  });

  test('runs as 65532 with its store in the volume; the healthcheck passes; an app made with the CLI serves pusher-js and the Node SDK', { timeout: 300_000 }, async () => {
    const nofile = Math.min(limit('n'), 65536);
    podman(['run', '-d', '--name', NAME,
      '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=4096:4096',
      '-p', `127.0.0.1:${port}:6001`, '-v', `${VOLUME}:/data`,
      '-e', `PIXIU_CONSOLE_PASSWORD=${CONSOLE_PASSWORD}`, '-e', 'PIXIU_CLUSTER_DRAIN_WINDOW=2s',
      IMAGE], { ok: [0] });
    await waitReady('first start');

    // The process runs as the image's numeric user, and the store is in the volume, owned by it.
    const [info] = JSON.parse(podman(['inspect', NAME]).stdout);
    const status = fs.readFileSync(`/proc/${info.State.Pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    const [vol] = JSON.parse(podman(['volume', 'inspect', VOLUME]).stdout);
    const db = fs.statSync(path.join(vol.Mountpoint, 'pixiu.db'));
    assert.equal(db.uid, 65532, 'pixiu.db in the volume is owned by the image user');

    // The image's healthcheck (exec form, no shell) and the command itself.
    const hc = podman(['healthcheck', 'run', NAME], { ok: [0, 1] });
    assert.equal(hc.status, 0, `podman healthcheck run: ${hc.stdout}${hc.stderr}`);
    const ready = podman(['exec', NAME, '/pixiu', 'health', '--ready']);
    assert.match(ready.stdout, /^ok: GET http:\/\/127\.0\.0\.1:6001\/ready: 200 /);
    const down = podman(['exec', NAME, '/pixiu', 'health', '--addr', '127.0.0.1:1'], { ok: [1] });
    assert.match(down.stderr, /pixiu health: GET http:\/\/127\.0\.0\.1:1\/health: cannot connect/);

    // An app created with the CLI in the container, on the volume's store.
    const created = podman(['exec', NAME, '/pixiu', 'apps', 'create', 'container-app', '--json']);
    app = JSON.parse(created.stdout);
    assert.ok(app.id && app.key && app.secret, created.stdout);

    // The running server picks it up within 2 s (a signed REST call then
    // answers 200; a socket opened before would get 4001 and not retry);
    // pusher-js subscribes with its key and receives what the Node SDK publishes.
    await waitFor(async () => (await sdk().get({ path: '/channels' })).status === 200,
      { timeout: 30_000, interval: 250, what: 'the new app served (GET /channels signed with its secret)' });
    const client = pusherClient(app.key);
    const events = new Recorder('updates');
    await subscribed(client, 'price_channel', events);
    await waitFor(async () => {
      await sdk().trigger('price_channel', 'update', { price: 1 });
      return events.find((d) => d.price === 1);
    }, { timeout: 30_000, interval: 500, what: 'the Node SDK publish reaching pusher-js' });
  });

  test('a restart drains sockets with 4200 and keeps the apps in the volume', { timeout: 300_000 }, async () => {
    assert.ok(app, 'the previous test created the app');
    const closed = new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${app.key}?protocol=7&client=js&version=8.4.0`);
      ws.on('message', (m) => {
        if (JSON.parse(m.toString()).event === 'pusher:connection_established') ws.established = true;
      });
      ws.on('close', (code) => resolve({ code, established: ws.established }));
      ws.on('error', reject);
    });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/ready`)).json().then((r) => r.connections >= 2),
      { timeout: 30_000, what: 'the raw socket counted' });

    podman(['restart', '-t', '30', NAME], { timeout: 120_000 });
    const { code, established } = await withTimeout(closed, 60_000, 'the raw socket closed by the restart');
    assert.equal(established, true);
    assert.equal(code, 4200, 'SIGTERM closes sockets with 4200 (reconnect)');
    assert.match(logs(), /shutting down/);
    await waitReady('after the restart');

    const list = podman(['exec', NAME, '/pixiu', 'apps', 'list', '--json']);
    assert.ok(JSON.parse(list.stdout).some((a) => a.id === app.id), `apps after restart: ${list.stdout}`);

    // pusher-js reconnected by itself; the app still publishes and delivers.
    const client = [...clients][0];
    const events = new Recorder('updates after restart');
    await subscribed(pusherClient(app.key), 'price_channel', events);
    await waitFor(async () => {
      await sdk().trigger('price_channel', 'update', { price: 2 });
      return events.find((d) => d.price === 2);
    }, { timeout: 30_000, interval: 500, what: 'a publish after the restart' });
    await waitFor(() => client.connection.state === 'connected', { timeout: 30_000, what: 'the first pusher-js client reconnected' });
  });
});
