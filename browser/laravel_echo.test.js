'use strict';
// Laravel Echo examples run as written, in Chromium, against a real pixiu:
//
// 1. docs/MIGRATING.md's Reverb → Pixiu worked example. The blocks marked
//    `<!-- test: laravel-echo NAME -->` are taken from the file: the shell
//    line that starts Pixiu (its PIXIU_* app), the `.env`, the `reverb`
//    connection of config/broadcasting.php and resources/js/echo.js.
// 2. The console's Laravel snippet (package snippets), copied from the
//    Getting started tab: `.env`, the `pusher` connection and echo.js.
//
// Only what a user changes is changed: the port in the shell line and in
// `.env` (the doc says 6001; the test server has a free one). Then what the
// tools would do is done: `.env` is read as Vite reads it (dotenv with
// ${VAR} expansion) and each `import.meta.env.VITE_*` becomes its value (as
// `vite build` replaces it); the bare imports resolve through an import map to
// the pinned laravel-echo and pusher-js in node_modules (pusher-js's UMD
// build wrapped as an ES module, as Vite's dependency step does). The event
// is published with the `pusher` Node SDK the way Laravel's broadcaster sends
// it: configured from the broadcasting.php connection (each env() read from
// `.env`), the event named by its class (App\Events\OrderShipped), the
// payload the event's public properties. The page's own console.log is the
// assertion.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const Pusher = require('pusher');
const { REPO_ROOT, startServer, launchChromium, watchPage, freePort, waitFor, outputPath } = require('./lib');

const MIGRATING = path.join(REPO_ROOT, 'docs', 'MIGRATING.md');
// laravel-echo's ES build: the "import" entry of its exports (what Vite takes).
const ECHO_DIR = path.join(REPO_ROOT, 'node_modules', 'laravel-echo');
const ECHO_ESM = path.join(ECHO_DIR, JSON.parse(fs.readFileSync(path.join(ECHO_DIR, 'package.json'), 'utf8')).exports['.'].import);
const PUSHER_UMD = require.resolve('pusher-js/dist/web/pusher.js');

// docBlocks returns the fenced blocks of md marked `<!-- test: group NAME -->`
// (the marker on the line before the fence), by NAME.
function docBlocks(md, group) {
  const blocks = {};
  const re = new RegExp(`<!-- test: ${group} ([\\w-]+) -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\`\\n`, 'g');
  for (const [, name, code] of md.matchAll(re)) {
    assert.ok(!(name in blocks), `${group} ${name} is marked twice`);
    blocks[name] = code;
  }
  return blocks;
}

// readEnv parses a .env file as Vite's loadEnv does (dotenv, then
// dotenv-expand): KEY=VALUE lines, quotes stripped, ${VAR} expanded in
// double-quoted and bare values. overrides replace the values of keys the
// user edits; each must be in the file.
function readEnv(text, overrides = {}) {
  const env = {};
  const seen = new Set();
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `.env line ${JSON.stringify(line)} is not KEY=VALUE`);
    let [, key, value] = m;
    const single = /^'(.*)'$/.exec(value);
    if (key in overrides) {
      value = overrides[key];
      seen.add(key);
    } else if (single) {
      value = single[1];
    } else {
      value = value.replace(/^"(.*)"$/, '$1').replace(/\$\{(\w+)\}/g, (_, v) => env[v] ?? '');
    }
    env[key] = value;
  }
  for (const key of Object.keys(overrides)) assert.ok(seen.has(key), `.env has no ${key} to change`);
  return env;
}

// viteDefine replaces each import.meta.env.VITE_* with its value from env,
// as `vite build` does (a string, or undefined when unset).
function viteDefine(code, env) {
  const out = code.replace(/import\.meta\.env\.(VITE_\w+)/g, (_, k) => (k in env ? JSON.stringify(env[k]) : 'undefined'));
  assert.doesNotMatch(out, /import\.meta/, 'echo.js reads import.meta other than import.meta.env.VITE_*');
  return out;
}

// broadcastingConfig reads a config/broadcasting.php connection: each
// `'name' => env('VAR'[, default])` is VAR's value in env (or the default),
// and `env(...) === 'https'` a boolean, as PHP would evaluate them.
function broadcastingConfig(php, env) {
  const cfg = {};
  const re = /'(\w+)' => env\('(\w+)'(?:,\s*(?:'([^']*)'|(\d+)))?\)(\s*===\s*'([^']*)')?/g;
  for (const [, name, v, dstr, dnum, cmp, cmpTo] of php.matchAll(re)) {
    if (name in cfg) continue;
    const value = env[v] ?? dstr ?? dnum ?? null;
    cfg[name] = cmp ? value === cmpTo : value;
  }
  cfg.driver = /'driver' => '(\w+)'/.exec(php)?.[1];
  for (const k of ['key', 'secret', 'app_id', 'host', 'port', 'scheme', 'useTLS']) {
    assert.ok(cfg[k] !== undefined && cfg[k] !== null, `the broadcasting connection has no ${k}`);
  }
  return cfg;
}

// laravelPublisher is the pusher-php-server client Laravel's Pusher (and
// Reverb) broadcaster builds from a connection, as the Node SDK.
function laravelPublisher(cfg) {
  assert.ok(['pusher', 'reverb'].includes(cfg.driver), `driver ${cfg.driver}`);
  assert.equal(cfg.useTLS, cfg.scheme === 'https');
  return new Pusher({ appId: cfg.app_id, key: cfg.key, secret: cfg.secret, host: cfg.host, port: String(cfg.port), useTLS: cfg.useTLS });
}

// serveApp serves the page of a Laravel app whose resources/js/echo.js is
// echoJS: an import map for the bare imports, the module, the two packages.
async function serveApp(t, echoJS) {
  const pusherESM = `const module = { exports: {} }; const exports = module.exports;\n${fs.readFileSync(PUSHER_UMD, 'utf8')}\n` +
    'export default module.exports.__esModule ? module.exports.default : module.exports;\n';
  const files = {
    '/': ['text/html', `<!doctype html><html><head><meta charset="utf-8"><title>Laravel app</title>
<script type="importmap">${JSON.stringify({ imports: { 'laravel-echo': '/vendor/laravel-echo.js', 'pusher-js': '/vendor/pusher-js.js' } })}</script>
<script type="module" src="/resources/js/echo.js"></script></head><body>Laravel app</body></html>`],
    '/resources/js/echo.js': ['text/javascript', echoJS],
    '/vendor/laravel-echo.js': ['text/javascript', fs.readFileSync(ECHO_ESM, 'utf8')],
    '/vendor/pusher-js.js': ['text/javascript', pusherESM],
  };
  const srv = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') return res.writeHead(204).end();
    const f = files[req.url];
    res.writeHead(f ? 200 : 404, { 'Content-Type': f ? f[0] : 'text/plain' });
    res.end(f ? f[1] : 'not found');
  });
  const port = await freePort();
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => srv.close(resolve)));
  return `http://127.0.0.1:${port}/`;
}

// logs records what the page passes to console.log, each call's arguments
// as JSON values.
function logs(page) {
  const calls = [];
  page.on('console', async (msg) => {
    if (msg.type() === 'log') calls.push(await Promise.all(msg.args().map((a) => a.jsonValue())));
  });
  return calls;
}

// shipOrder opens the app's page, waits until its Echo has subscribed to
// `orders` (the REST API says the channel is occupied), then broadcasts as
// Laravel does for `OrderShipped::dispatch($order)`: first an event of
// another name (bare OrderShipped, which the listener must not take), then
// App\Events\OrderShipped. It returns the page's console.log calls once the
// second arrived.
async function shipOrder({ browser, appURL, publisher, name }) {
  const page = await browser.newPage();
  const problems = watchPage(page, name);
  const calls = logs(page);
  try {
    await page.goto(appURL);
    await waitFor(async () => {
      const res = await publisher.get({ path: '/channels/orders' });
      return (await res.json()).occupied;
    }, { timeout: 15000, message: `${name}: Echo subscribed to orders` });
    assert.equal(await page.evaluate(() => window.Echo.connector.pusher.connection.state), 'connected');
    await publisher.trigger(['orders'], 'OrderShipped', { order: { id: 1 } }); // not the name Laravel sends
    await publisher.trigger(['orders'], 'App\\Events\\OrderShipped', { order: { id: 1042, status: 'shipped' } });
    await waitFor(() => calls.length > 0, { timeout: 10000, message: `${name}: the listener ran` });
    assert.deepEqual(problems, []);
    return calls;
  } catch (err) {
    await page.screenshot({ path: outputPath(`${name}-failure.png`) }).catch(() => {});
    err.message += `\n--- page console ---\n${JSON.stringify(calls)}\n${problems.join('\n')}`;
    throw err;
  } finally {
    await page.close();
  }
}

test("MIGRATING.md's Reverb → Pixiu example runs as written", async (t) => {
  const blocks = docBlocks(fs.readFileSync(MIGRATING, 'utf8'), 'laravel-echo');
  assert.deepEqual(Object.keys(blocks).sort(), ['broadcasting', 'echo', 'env', 'serve']);

  // The shell line: PIXIU_* assignments, then `pixiu serve --port 6001`.
  const words = blocks.serve.trim().split(/\s+/);
  const env = {};
  while (/^[A-Z_]+=/.test(words[0])) {
    const [k, ...v] = words.shift().split('=');
    env[k] = v.join('=');
  }
  assert.deepEqual(words.slice(0, 2), ['pixiu', 'serve']);
  const args = words.slice(2);
  const at = args.indexOf('--port');
  assert.ok(at >= 0, 'the serve line names its port');
  args.splice(at, 2); // the test server's own port replaces it
  const server = await startServer({ t, args, env });

  try {
    const dotenv = readEnv(blocks.env, { REVERB_PORT: String(server.port) });
    assert.equal(dotenv.REVERB_HOST, '127.0.0.1', 'the doc runs Pixiu on this machine');
    const publisher = laravelPublisher(broadcastingConfig(blocks.broadcasting, dotenv));
    const browser = await launchChromium({ t });
    const appURL = await serveApp(t, viteDefine(blocks.echo, dotenv));
    const calls = await shipOrder({ browser, appURL, publisher, name: 'laravel-echo-migrating' });
    assert.deepEqual(calls, [['order shipped', 1042]]);
  } catch (err) {
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});

test("the console's Laravel snippet runs as copied", async (t) => {
  const password = 'laravel-snippet-password';
  const app = { id: 'laravel-app', key: 'laravel-key', secret: 'laravel-secret' };
  const server = await startServer({
    t, args: ['--demo=false'], env: { PIXIU_CONSOLE_PASSWORD: password },
    config: `apps:\n  - {id: ${app.id}, key: ${app.key}, secret: ${app.secret}}\n`,
  });
  try {
    const browser = await launchChromium({ t });
    const page = await browser.newPage();
    await page.goto(`${server.url}/console/#/apps/${app.id}/start`);
    await page.fill('#password', password);
    await page.click('#signin');
    await page.locator('.seg button', { hasText: 'Laravel' }).click();
    const snippet = await page.locator('#snippet').textContent();
    await page.close();

    // Its three files, each after its heading comment.
    const parts = snippet.split(/\n\n(?=\/\/ config\/broadcasting\.php|\/\/ resources\/js\/echo\.js)/);
    assert.equal(parts.length, 3, snippet);
    const [envFile, php, echoJS] = parts;
    assert.match(envFile, /^# \.env\n/);
    const dotenv = readEnv(envFile); // nothing to change: the console filled in this server
    assert.deepEqual([dotenv.PUSHER_APP_KEY, dotenv.PUSHER_HOST, dotenv.PUSHER_PORT, dotenv.PUSHER_SCHEME],
      [app.key, '127.0.0.1', String(server.port), 'http']);
    const publisher = laravelPublisher(broadcastingConfig(php, dotenv));
    const appURL = await serveApp(t, viteDefine(echoJS, dotenv));
    const calls = await shipOrder({ browser, appURL, publisher, name: 'laravel-echo-console' });
    assert.deepEqual(calls, [[{ order: { id: 1042, status: 'shipped' } }]]);
  } catch (err) {
    err.message += `\n--- server output ---\n${server.logs()}`;
    throw err;
  }
});
