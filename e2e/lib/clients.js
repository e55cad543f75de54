// Client helpers: the official pusher-js client and Node server SDK wired to a
// test server, a raw `ws` client for wire-level assertions, and a hand-signed
// REST request for the cases the SDK refuses client-side.

import crypto from 'node:crypto';
import PusherJS from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';
import { APPS } from './server.js';
import { Recorder, withTimeout, waitFor } from './wait.js';

PusherJS.logToConsole = false;

export const MASTER_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('base64');
export const SOCKET_ID = /^\d+\.\d+$/;

export function hmac(secret, s) {
  return crypto.createHmac('sha256', secret).update(s).digest('hex');
}
export function md5(s) {
  return crypto.createHash('md5').update(s).digest('hex');
}

// sdk returns a Node server SDK (`pusher` package) pointed at srv.
export function sdk(srv, app = APPS.main, extra = {}) {
  return new PusherServer({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: '127.0.0.1',
    port: String(srv.port),
    useTLS: Boolean(srv.tls),
    encryptionMasterKeyBase64: MASTER_KEY,
    ...extra,
  });
}

// sdkStatus resolves to the HTTP status of an SDK request (200 or the RequestError status).
export async function sdkStatus(promise) {
  try {
    const res = await promise;
    return { status: res.status, body: await res.text() };
  } catch (err) {
    if (err.status === undefined) throw err;
    return { status: err.status, body: err.body };
  }
}

// Pool tracks every client a test file opens so after() can close them all.
export class Pool {
  constructor(srv) {
    this.srv = srv;
    this.clients = new Set();
  }

  // pusher opens a pusher-js client. opts: app, presence ({user_id,user_info}),
  // user (user_data object for sign-in), authorize(sdk, socketId, channel) to
  // override channel authorization, userAuth(sdk, socketId) for sign-in.
  pusher(opts = {}) {
    const app = opts.app ?? APPS.main;
    const server = sdk(this.srv, app);
    const client = new PusherJS(app.key, {
      cluster: 'mt1',
      wsHost: '127.0.0.1',
      wsPort: this.srv.port,
      wssPort: this.srv.port,
      forceTLS: Boolean(this.srv.tls),
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: {
        customHandler: ({ socketId, channelName }, cb) => {
          try {
            const data = opts.authorize
              ? opts.authorize(server, socketId, channelName)
              : server.authorizeChannel(socketId, channelName, channelName.startsWith('presence-') ? opts.presence : undefined);
            cb(null, data);
          } catch (err) {
            cb(err, null);
          }
        },
      },
      userAuthentication: {
        customHandler: ({ socketId }, cb) => {
          try {
            const data = opts.userAuth ? opts.userAuth(server, socketId) : server.authenticateUser(socketId, opts.user);
            cb(null, data);
          } catch (err) {
            cb(err, null);
          }
        },
      },
      ...(opts.options ?? {}),
    });
    client.log = new Recorder(`pusher-js ${app.key} messages`);
    client.errors = new Recorder(`pusher-js ${app.key} connection errors`);
    client.states = new Recorder(`pusher-js ${app.key} states`);
    client.connection.bind('message', (m) => client.log.push(m));
    client.connection.bind('error', (e) => client.errors.push(e));
    client.connection.bind('state_change', (s) => client.states.push(s.current));
    this.clients.add({ close: () => client.disconnect() });
    return client;
  }

  // raw opens a raw WebSocket. path defaults to /app/<key>?protocol=7&... .
  raw({ key = APPS.main.key, path, query = 'protocol=7&client=js&version=8.6.0&flash=false', wsOptions = {}, protocols } = {}) {
    const url = `${this.srv.wsBase}${path ?? `/app/${key}`}${query ? `?${query}` : ''}`;
    const rc = new RawClient(url, wsOptions, protocols);
    this.clients.add(rc);
    return rc;
  }

  closeAll() {
    for (const c of this.clients) {
      try {
        c.close();
      } catch {}
    }
    this.clients.clear();
  }
}

// connected waits until a pusher-js client is connected and returns its socket id.
export async function connected(client, timeout = 5000) {
  if (client.connection.state !== 'connected') {
    await client.states.next((s) => s === 'connected', timeout, 'state connected');
  }
  return client.connection.socket_id;
}

// subscribe subscribes a pusher-js client and waits for pusher:subscription_succeeded.
// It rejects on pusher:subscription_error or a pusher:error naming the channel.
export function subscribe(client, name, timeout = 5000) {
  const ch = client.subscribe(name);
  ch.log = new Recorder(`channel ${name}`);
  ch.bind_global((event, data) => ch.log.push({ event, data }));
  if (ch.subscribed) return Promise.resolve(ch);
  return withTimeout(
    new Promise((resolve, reject) => {
      ch.bind('pusher:subscription_succeeded', () => resolve(ch));
      ch.bind('pusher:subscription_error', (e) => reject(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`)));
      client.connection.bind('message', (m) => {
        if (m.event === 'pusher:error' && m.channel === name) reject(new Error(`pusher:error on ${name}: ${JSON.stringify(m.data)}`));
      });
    }),
    timeout,
    `subscription to ${name}`,
  );
}

// RawClient is a WebSocket speaking the Pusher protocol by hand.
export class RawClient {
  constructor(url, wsOptions = {}, protocols = undefined) {
    this.url = url;
    this.log = new Recorder(`raw ${url}`);
    this.pings = 0;
    this.ws = protocols ? new WebSocket(url, protocols, wsOptions) : new WebSocket(url, wsOptions);
    this.ws.on('message', (buf, isBinary) => {
      const raw = buf.toString('utf8');
      let msg;
      try {
        msg = JSON.parse(raw);
      } catch {
        msg = { unparsable: true };
      }
      msg.raw = raw;
      msg.binary = isBinary;
      this.log.push(msg);
    });
    this.ws.on('ping', () => this.pings++);
    this.ws.on('error', (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} instead of a WebSocket upgrade for ${url}`)));
      this.ws.once('error', reject);
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // established waits for pusher:connection_established and returns {socket_id, activity_timeout}.
  async established(timeout = 5000) {
    const m = await this.log.next(() => true, timeout, 'first frame');
    if (m.event !== 'pusher:connection_established') {
      throw new Error(`first frame is not connection_established: ${m.raw}`);
    }
    this.socketId = JSON.parse(m.data).socket_id;
    return JSON.parse(m.data);
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  next(pred, timeout = 5000, what) {
    return this.log.next(pred, timeout, what);
  }

  // nextError waits for the next pusher:error after the frames seen so far.
  nextError(timeout = 5000, after = this.log.items.length) {
    return this.log.next((m) => m.event === 'pusher:error' && this.log.items.indexOf(m) >= after, timeout, 'pusher:error');
  }

  // roundTrip sends pusher:ping and waits for the pong, proving the socket is
  // open and that everything the server sent before it has arrived.
  async roundTrip(timeout = 5000) {
    const after = this.log.items.length;
    this.send({ event: 'pusher:ping', data: {} });
    return this.log.next((m) => m.event === 'pusher:pong' && this.log.items.indexOf(m) >= after, timeout, 'pusher:pong');
  }

  // subscribe sends pusher:subscribe and waits for subscription_succeeded or
  // an error; returns the answering frame.
  async subscribe(channel, extra = {}, timeout = 5000) {
    const after = this.log.items.length;
    this.send({ event: 'pusher:subscribe', data: { channel, auth: '', ...extra } });
    return this.log.next(
      (m) =>
        this.log.items.indexOf(m) >= after &&
        ((m.event === 'pusher_internal:subscription_succeeded' && m.channel === channel) ||
          m.event === 'pusher:error' ||
          (m.event === 'pusher:subscription_error' && m.channel === channel)),
      timeout,
      `answer to subscribe ${channel}`,
    );
  }

  close() {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.terminate();
  }
}

// privateAuth / presenceAuth / userAuth sign like the server SDKs (protocol.md §5).
export function privateAuth(app, socketId, channel) {
  return `${app.key}:${hmac(app.secret, `${socketId}:${channel}`)}`;
}
export function presenceAuth(app, socketId, channel, channelData) {
  return `${app.key}:${hmac(app.secret, `${socketId}:${channel}:${channelData}`)}`;
}
export function userAuth(app, socketId, userData) {
  return `${app.key}:${hmac(app.secret, `${socketId}::user::${userData}`)}`;
}

// rest sends a hand-signed REST request (protocol.md §6.2). Query values are
// percent-encoded on the wire (as php does) and signed decoded.
export async function rest(srv, { method = 'POST', path, query = {}, body, app = APPS.main, key, secret, timestamp, bodyMD5 } = {}) {
  const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const params = {
    auth_key: key ?? app.key,
    auth_timestamp: String(timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    ...query,
  };
  if (raw !== undefined && raw !== '') params.body_md5 = bodyMD5 ?? md5(raw);
  const keys = Object.keys(params).sort();
  const canonical = keys.map((k) => `${k.toLowerCase()}=${params[k]}`).join('&');
  const sig = hmac(secret ?? app.secret, `${method}\n${path}\n${canonical}`);
  const qs = keys.map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`).join('&');
  const res = await fetch(`${srv.base}${path}?${qs}&auth_signature=${sig}`, {
    method,
    body: raw,
    headers: raw !== undefined ? { 'content-type': 'application/json' } : {},
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, text, json };
}

export { waitFor };

// signIn runs pusher-js user sign-in (client.signin()) and waits until the
// server accepted it and pusher-js subscribed to #server-to-user-<id>.
export async function signIn(client, timeout = 5000) {
  await connected(client, timeout);
  const n = client.log.items.length;
  client.signin();
  const m = await client.log.next(
    (x) => client.log.items.indexOf(x) >= n && (x.event === 'pusher:signin_success' || x.event === 'pusher:error'),
    timeout,
    'answer to pusher:signin',
  );
  if (m.event !== 'pusher:signin_success') throw new Error(`signin refused: ${JSON.stringify(m.data)}`);
  await waitFor(() => client.user.serverToUserChannel?.subscribed, { timeout, what: 'subscription to #server-to-user-<id>' });
  return client.user.user_data;
}
