// Harness: build the real pixiu binary (once per run, serialised across the
// parallel test processes), write a temporary config, start the server on a
// free loopback port, wait for GET /ready and stop it when the file is done.
//
// Failure to build or start is an error that fails every test of the file,
// never a skip.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { freePort } from './ports.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(here, '..');
export const REPO_DIR = path.resolve(E2E_DIR, '..');
const OUTPUT_DIR = path.join(E2E_DIR, 'output');
const BUILT_BIN = path.join(OUTPUT_DIR, 'pixiu');
const LOCK_DIR = path.join(OUTPUT_DIR, '.build.lock');

// The apps every test server knows (see the brief / config.App).
export const APPS = {
  main: { id: 'app-id', key: 'app-key', secret: 'app-secret', client_events: true, subscription_count: true },
  noclient: { id: 'noclient-id', key: 'noclient-key', secret: 'noclient-secret', client_events: false },
  off: { id: 'off-id', key: 'off-key', secret: 'off-secret', enabled: false },
  small: { id: 'small-id', key: 'small-key', secret: 'small-secret', max_connections: 2, max_presence_members: 2, client_events: true },
  quota: { id: 'quota-id', key: 'quota-key', secret: 'quota-secret', daily_message_quota: 5 },
};

// TLS mode (`make test-e2e` runs part of the suite a second time this way):
// with PIXIU_E2E_TLS_DIR naming a directory holding cert.pem and key.pem (a
// leaf for 127.0.0.1/localhost, see tls/certs.js) and NODE_EXTRA_CA_CERTS
// naming its CA, every server serves its port over TLS and every client
// (pusher-js forceTLS, the SDK useTLS, ws, fetch) speaks wss:// / https://.
export const TLS_DIR = process.env.PIXIU_E2E_TLS_DIR || '';
if (TLS_DIR && !process.env.NODE_EXTRA_CA_CERTS) {
  throw new Error('e2e: PIXIU_E2E_TLS_DIR needs NODE_EXTRA_CA_CERTS (the CA of its certificate)');
}

export const DEFAULT_CONFIG = {
  activity_timeout: 120,
  pong_timeout: 30,
  limits: { max_event_bytes: 10240, max_channel_name_len: 200, cache_ttl: 1800 },
  apps: Object.values(APPS),
};

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

async function withBuildLock(fn) {
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR);
      fs.writeFileSync(path.join(LOCK_DIR, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // Break a lock left behind by a crashed process.
      let holder = 0;
      try {
        holder = Number(fs.readFileSync(path.join(LOCK_DIR, 'pid'), 'utf8'));
      } catch {}
      const age = (() => {
        try { return Date.now() - fs.statSync(LOCK_DIR).mtimeMs; } catch { return 0; }
      })();
      if ((holder && !pidAlive(holder)) || (!holder && age > 10_000)) {
        fs.rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`e2e: timed out waiting for build lock ${LOCK_DIR}`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

let binaryPromise;

// binary returns the path of the server binary: $PIXIU_BIN if set, else a
// fresh `go build` of ./cmd/pixiu (go skips relinking when it is up to date).
export function binary() {
  binaryPromise ??= (async () => {
    if (process.env.PIXIU_BIN) {
      const bin = path.resolve(process.env.PIXIU_BIN);
      if (!fs.existsSync(bin)) throw new Error(`e2e: PIXIU_BIN=${bin} does not exist`);
      return bin;
    }
    return withBuildLock(async () => {
      const res = spawnSync('go', ['build', '-o', BUILT_BIN, './cmd/pixiu'], {
        cwd: REPO_DIR,
        encoding: 'utf8',
        timeout: 5 * 60_000,
      });
      if (res.error) throw new Error(`e2e: cannot run go build: ${res.error.message}`);
      if (res.status !== 0) {
        throw new Error(`e2e: go build ./cmd/pixiu failed (exit ${res.status}):\n${res.stdout}${res.stderr}`);
      }
      return BUILT_BIN;
    });
  })();
  return binaryPromise;
}

export { freePort };

// Minimal YAML writer for the config shape (maps, lists of maps, scalars).
function toYAML(value, indent = '') {
  // Strings and nested objects as JSON (valid YAML flow style).
  const scalar = (v) => (typeof v === 'string' || (v !== null && typeof v === 'object') ? JSON.stringify(v) : String(v));
  let out = '';
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      out += `${indent}${k}:\n`;
      for (const item of v) {
        if (item !== null && typeof item === 'object') {
          out += `${indent}  - {${Object.entries(item).map(([ik, iv]) => `${ik}: ${scalar(iv)}`).join(', ')}}\n`;
        } else {
          out += `${indent}  - ${scalar(item)}\n`;
        }
      }
    } else if (v !== null && typeof v === 'object') {
      out += `${indent}${k}:\n${toYAML(v, indent + '  ')}`;
    } else {
      out += `${indent}${k}: ${scalar(v)}\n`;
    }
  }
  return out;
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch {}
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const child of live) {
      try { child.kill('SIGKILL'); } catch {}
    }
    process.exit(130);
  });
}

async function waitReady(base, child, logs, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`pixiu exited early (code ${child.exitCode}, signal ${child.signalCode}); output:\n${logs()}`);
    }
    try {
      const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
      lastErr = `GET /ready -> ${res.status}`;
    } catch (err) {
      lastErr = err.message;
    }
    await sleep(50);
  }
  throw new Error(`pixiu not ready after ${timeoutMs} ms (${lastErr}); output:\n${logs()}`);
}

// startServer builds (if needed) and starts one pixiu. config overrides are
// shallow-merged over DEFAULT_CONFIG. Returns {port, host, base, wsBase, stop, logs}.
// startServer starts a server; opts.port fixes the port (to start a server
// again where a stopped one listened, for clients that reconnect to it).
export async function startServer(config = {}, opts = {}) {
  const bin = await binary();
  const cfg = { ...DEFAULT_CONFIG, ...config };
  if (process.env.PIXIU_E2E_HISTORY) {
    // history_on.test.js: every app keeps the history of every channel, so
    // every event frame carries an id; the official clients must not mind.
    cfg.apps = cfg.apps.map((a) => ({ ...a, history: { channels: ['*'] } }));
  }
  if (TLS_DIR && cfg.tls === undefined) {
    cfg.tls = { cert_file: path.join(TLS_DIR, 'cert.pem'), key_file: path.join(TLS_DIR, 'key.pem') };
  }
  const tls = cfg.tls !== undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixiu-e2e-'));
  const cfgFile = path.join(dir, 'pixiu.yaml');
  fs.writeFileSync(cfgFile, toYAML(cfg));

  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port ?? (await freePort());
    const chunks = [];
    let size = 0;
    const record = (b) => {
      chunks.push(b);
      size += b.length;
      while (size > 64 * 1024 && chunks.length > 1) size -= chunks.shift().length;
    };
    const child = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', String(port), '--config', cfgFile, '--demo=false'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env },
    });
    live.add(child);
    child.stdout.on('data', record);
    child.stderr.on('data', record);
    const exited = new Promise((r) => child.once('exit', r));
    child.once('error', (err) => record(Buffer.from(`spawn error: ${err.message}\n`)));
    const logs = () => Buffer.concat(chunks).toString('utf8');
    const base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      live.delete(child);
      fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
      await waitReady(base, child, logs, 20_000);
      return { host: '127.0.0.1', port, base, wsBase: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`, tls, cfg, stop, logs, child };
    } catch (err) {
      lastErr = err;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      live.delete(child);
      // Retry only if the port was taken between freePort() and listen.
      if (!/address already in use/i.test(logs())) break;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}
