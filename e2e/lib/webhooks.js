// Webhook helpers: a receiver on 127.0.0.1 that records every request with
// its raw body, and a server starter for configs lib/server.js' flat YAML
// writer cannot express (lists nested in list items, such as an app's
// webhook endpoints). The config is written as JSON, which YAML accepts.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { binary, freePort, DEFAULT_CONFIG } from './server.js';
import { Recorder, sleep } from './wait.js';

// Receiver is a webhook endpoint. requests records {headers, rawBody, status};
// fail(n) makes the next n requests answer 500.
export class Receiver {
  constructor() {
    this.requests = new Recorder('webhook requests');
    this.failures = 0;
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        let status = 200;
        if (this.failures > 0) {
          this.failures--;
          status = 500;
        }
        this.requests.push({ headers: req.headers, rawBody: Buffer.concat(chunks).toString('utf8'), status });
        res.writeHead(status).end();
      });
    });
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}/hook`;
    return this;
  }

  fail(n) {
    this.failures = n;
  }

  // delivered returns the 2xx-answered requests, each webhook id once.
  delivered() {
    const seen = new Set();
    return this.requests.filter((r) => {
      const id = r.headers['x-pusher-webhook-id'];
      if (r.status !== 200 || seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((resolve) => this.server.close(resolve));
  }
}

// startConfigured starts pixiu with cfg (shallow-merged over DEFAULT_CONFIG)
// written as JSON. Returns what lib/server.js' startServer returns.
export async function startConfigured(config = {}) {
  const bin = await binary();
  const cfg = { ...DEFAULT_CONFIG, ...config };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixiu-e2e-wh-'));
  const cfgFile = path.join(dir, 'pixiu.yaml');
  fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
  const port = await freePort();
  const chunks = [];
  const child = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', String(port), '--config', cfgFile, '--demo=false'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env },
  });
  child.stdout.on('data', (b) => chunks.push(b));
  child.stderr.on('data', (b) => chunks.push(b));
  const exited = new Promise((r) => child.once('exit', r));
  const logs = () => Buffer.concat(chunks).toString('utf8').slice(-64 * 1024);
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`pixiu exited early (code ${child.exitCode}); output:\n${logs()}`);
    }
    try {
      const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pixiu not ready; output:\n${logs()}`);
    }
    await sleep(50);
  }
  return { host: '127.0.0.1', port, base, wsBase: `ws://127.0.0.1:${port}`, cfg, stop, logs, child };
}
