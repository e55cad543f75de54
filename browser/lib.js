'use strict';
// Shared helpers for the browser tests (node:test + playwright-core): start a
// real `pixiu serve` on a free loopback port, launch Debian's Chromium, and
// poll for asynchronous effects. Nothing here knows about a particular page.
//
// Rules the helpers enforce: the browser is the system Chromium (never a
// downloaded one), and anything missing makes the test fail loudly: browser
// tests never skip.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO_ROOT = path.resolve(__dirname, '..');
const OUTPUT_DIR = path.join(__dirname, 'output');

// CHROMIUM_PATH overrides where the Chromium binary is (default Debian's).
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// pixiuBin returns the server binary: $PIXIU_BIN, else bin/pixiu in the repo.
function pixiuBin() {
  const bin = process.env.PIXIU_BIN || path.join(REPO_ROOT, 'bin', 'pixiu');
  if (!fs.existsSync(bin)) {
    throw new Error(`pixiu binary not found at ${bin}: run \`make build\` or set PIXIU_BIN`);
  }
  return bin;
}

// freePort asks the kernel for a free loopback TCP port.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor polls fn until it returns a truthy value (which it returns) or
// throws after timeout ms with the last error or message.
async function waitFor(fn, { timeout = 5000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`${message} not met within ${timeout} ms${last ? `: ${last.message}` : ''}`);
    }
    await sleep(interval);
  }
}

// startServer runs `pixiu serve --host 127.0.0.1 --port <free> --config <file>`
// with config (YAML text) written to a fresh temporary directory, and resolves
// once GET /ready answers 200. The store lives in that directory too
// (PIXIU_STORE_PATH) unless env says otherwise. cwd defaults to the repo root
// so the server finds node_modules/ (pusher-js for the demo). port picks the
// port (a restart on the same one); default a free one. When t (a
// node:test context) is given, the server is stopped after the test.
//
// The result: { url, port, dir, configPath, proc, logs(), stop() }.
async function startServer({ t, config = '', args = [], env = {}, cwd = REPO_ROOT, readyTimeout = 15000, port: wantPort } = {}) {
  const bin = pixiuBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixiu-browser-'));
  const configPath = path.join(dir, 'pixiu.yaml');
  fs.writeFileSync(configPath, config);
  const port = wantPort || await freePort();
  const url = `http://127.0.0.1:${port}`;

  let output = '';
  const proc = spawn(bin, ['serve', '--host', '127.0.0.1', '--port', String(port), '--config', configPath, ...args], {
    cwd,
    env: { ...process.env, PIXIU_STORE_PATH: path.join(dir, 'pixiu.db'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (b) => { output += b; });
  proc.stderr.on('data', (b) => { output += b; });
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  let exit = null;
  exited.then((e) => { exit = e; });

  const server = {
    url, port, dir, configPath, proc,
    logs: () => output,
    async stop() {
      if (!exit) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (t) t.after(() => server.stop());

  try {
    await waitFor(async () => {
      if (exit) throw new Error(`pixiu exited early (${exit.signal || `code ${exit.code}`})`);
      const res = await fetch(`${url}/ready`);
      await res.arrayBuffer();
      return res.ok;
    }, { timeout: readyTimeout, interval: 100, message: `${url}/ready` });
  } catch (err) {
    await server.stop();
    throw new Error(`pixiu did not become ready: ${err.message}\n--- server output ---\n${output}`);
  }
  return server;
}

// launchChromium starts the system Chromium headless. It throws (never skips)
// when Chromium is missing or cannot start. When t is given, the browser is
// closed after the test.
async function launchChromium({ t, args = [] } = {}) {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's package ` +
      '(apt-get install chromium) or set CHROMIUM_PATH. Browser tests do not skip.');
  }
  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...args] });
  } catch (err) {
    throw new Error(`Chromium at ${CHROMIUM_PATH} could not be launched: ${err.message}`);
  }
  if (t) t.after(() => browser.close());
  return browser;
}

// watchPage records a page's uncaught errors and console errors (a CSP
// violation shows up as one) into the returned array.
function watchPage(page, name = 'page') {
  const problems = [];
  page.on('pageerror', (err) => problems.push(`${name}: uncaught ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${name}: console error: ${msg.text()}`);
  });
  return problems;
}

// outputPath returns browser/output/<name>, creating the directory. Test
// artefacts (screenshots) go there; it is not committed.
function outputPath(name) {
  fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  return path.join(OUTPUT_DIR, name);
}

module.exports = {
  REPO_ROOT, CHROMIUM_PATH, pixiuBin, freePort, sleep, waitFor, startServer, launchChromium, watchPage, outputPath,
};
