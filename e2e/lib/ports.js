// Free loopback ports, for servers the tests start. A module of its own,
// without side effects, so scripts that must not load server.js (its
// SIGINT handler) can use it too.

import net from 'node:net';

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
export function freePort() {
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
