// The official clients over TLS on Pixiu's own port (tls.cert_file/key_file):
// pusher-js with forceTLS (wss://), the Node SDK with useTLS (https://),
// Laravel Echo, and what a plain client gets from the TLS port. Run by
// `make test-e2e` in its TLS pass (lib/server.js TLS mode), with the rest of
// the TLS subset.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import Echo from 'laravel-echo';
import os from 'node:os';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startServer, binary, APPS, TLS_DIR } from '../lib/server.js';
import { Pool, connected, subscribe, sdk, sdkStatus } from '../lib/clients.js';
import { Recorder, uid, withTimeout } from '../lib/wait.js';

if (!TLS_DIR) {
  throw new Error('tls/*.test.js needs the TLS pass: PIXIU_E2E_TLS_DIR and NODE_EXTRA_CA_CERTS (see the Makefile test-e2e)');
}

let srv;
let pool;
let api;
before(async () => {
  srv = await startServer();
  pool = new Pool(srv);
  api = sdk(srv);
});
after(async () => {
  pool?.closeAll();
  await srv?.stop();
});

describe('official clients over TLS', () => {
  test('the server speaks TLS with the configured certificate', async () => {
    assert.ok(srv.tls && srv.wsBase.startsWith('wss://'), 'the harness did not start a TLS server');
    const ca = fs.readFileSync(path.join(TLS_DIR, 'ca.pem'));
    const s = tls.connect({ host: '127.0.0.1', port: srv.port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    await withTimeout(new Promise((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject); }), 10000, 'TLS handshake');
    assert.equal(s.authorized, true, String(s.authorizationError));
    assert.match(s.getProtocol(), /^TLSv1\.[23]$/);
    assert.equal(s.alpnProtocol, 'http/1.1');
    assert.equal(s.getPeerCertificate().subject.CN, 'localhost');
    s.destroy();
  });

  test('pusher-js (forceTLS) subscribes and gets what the Node SDK (useTLS) publishes', async () => {
    const client = pool.pusher();
    const socketId = await connected(client, 10000);
    assert.match(socketId, /^\d+\.\d+$/);
    const name = uid('tls');
    const ch = await subscribe(client, name, 10000);
    const priv = await subscribe(client, `private-${name}`, 10000);
    const res = await api.trigger([name, `private-${name}`], 'greet', { over: 'wss' });
    assert.equal(res.status, 200);
    assert.deepEqual((await ch.log.next((m) => m.event === 'greet', 10000, 'greet')).data, { over: 'wss' });
    assert.deepEqual((await priv.log.next((m) => m.event === 'greet', 10000, 'private greet')).data, { over: 'wss' });
    const info = await sdkStatus(api.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } }));
    assert.equal(info.status, 200, info.body);
    assert.equal(JSON.parse(info.body).occupied, true);
  });

  test('Laravel Echo over wss: private channel and whisper', async () => {
    const e1 = new Echo({ broadcaster: 'pusher', client: pool.pusher() });
    const e2 = new Echo({ broadcaster: 'pusher', client: pool.pusher() });
    try {
      const name = uid('room');
      const got = new Recorder('echo whisper');
      const events = new Recorder('echo events');
      const c1 = e1.private(name).listen('.Shipped', (d) => events.push(d));
      const c2 = e2.private(name).listenForWhisper('typing', (d) => got.push(d));
      for (const [c, what] of [[c1, 'e1'], [c2, 'e2']]) {
        await withTimeout(new Promise((resolve, reject) => {
          if (c.subscription.subscribed) resolve();
          c.subscribed(resolve).error((err) => reject(new Error(JSON.stringify(err))));
        }), 10000, `${what} subscribed`);
      }
      c1.whisper('typing', { name: 'ada' });
      assert.deepEqual(await got.next(() => true, 10000, 'whisper'), { name: 'ada' });
      await api.trigger(`private-${name}`, 'Shipped', { id: 7 });
      assert.deepEqual(await events.next(() => true, 10000, 'Shipped'), { id: 7 });
    } finally {
      e1.disconnect();
      e2.disconnect();
    }
  });

  test('a plain HTTP request to the TLS port gets 400, never an answer in the clear', async () => {
    const answer = await withTimeout(new Promise((resolve, reject) => {
      const s = net.connect(srv.port, '127.0.0.1', () => s.write('GET /ready HTTP/1.1\r\nHost: x\r\n\r\n'));
      let buf = '';
      s.on('data', (d) => { buf += d; });
      s.on('end', () => resolve(buf));
      s.on('error', reject);
    }), 10000, 'plain answer');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /client sent an HTTP request to an HTTPS server/);
    assert.doesNotMatch(answer, /"ok":true/);
  });

  test('pixiu trigger --config of a TLS server publishes over https (its certificate\'s name, https from tls.*)', async () => {
    // The config as an operator has it: no host (0.0.0.0), the port, the
    // certificate (for localhost), one app. The CLI takes the certificate's
    // name and https from it; SSL_CERT_FILE makes the test CA trusted.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixiu-cli-tls-'));
    const file = path.join(dir, 'pixiu.yaml');
    const { id, key, secret } = APPS.main;
    fs.writeFileSync(file, `port: ${srv.port}\ntls:\n` +
      `  cert_file: ${path.join(TLS_DIR, 'cert.pem')}\n  key_file: ${path.join(TLS_DIR, 'key.pem')}\n` +
      `apps:\n  - {id: ${id}, key: ${key}, secret: ${secret}}\n`);
    const bin = await binary();
    const runBin = (...args) => promisify(execFile)(bin, args, {
      env: { ...process.env, SSL_CERT_FILE: path.join(TLS_DIR, 'ca.pem') }, timeout: 30000,
    });
    try {
      const client = pool.pusher();
      await connected(client, 10000);
      const name = uid('cli');
      const ch = await subscribe(client, name, 10000);
      const { stdout } = await runBin('trigger', '--config', file, '--channel', name, '--event', 'from-cli', '--data', '{"over":"https"}');
      assert.equal(stdout.trim(), '{}');
      assert.deepEqual((await ch.log.next((m) => m.event === 'from-cli', 10000, 'from-cli')).data, { over: 'https' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the console and the REST API answer over https', async () => {
    const page = await fetch(`${srv.base}/console`, { redirect: 'manual' });
    assert.ok(page.status === 200 || (page.status >= 300 && page.status < 400), `GET /console: ${page.status}`);
    const login = await fetch(`${srv.base}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"password":"wrong"}' });
    assert.equal(login.status, 401);
    const unsigned = await fetch(`${srv.base}/apps/${APPS.main.id}/channels`);
    assert.equal(unsigned.status, 401);
  });
});
