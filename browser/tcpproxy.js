'use strict';
// A TCP proxy a test controls: it forwards 127.0.0.1:<port> to target;
// break() destroys every open connection and refuses new ones (accepted,
// then destroyed at once) until restore().

const net = require('node:net');

async function startProxy(targetPort) {
  const open = new Set();
  let broken = false;
  const server = net.createServer((client) => {
    if (broken) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    open.add(pair);
    const drop = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    get connections() { return open.size; },
    break() {
      broken = true;
      for (const { client, upstream } of open) {
        client.destroy();
        upstream.destroy();
      }
      open.clear();
    },
    restore() { broken = false; },
    close() {
      this.break();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

module.exports = { startProxy };
