// Writes a throwaway CA and a server certificate for 127.0.0.1, ::1 and
// localhost (ECDSA P-256, one day) into DIR with openssl: ca.pem, cert.pem,
// key.pem. `make test-e2e` runs it before the TLS pass of the suite, which
// needs the CA at Node's start (NODE_EXTRA_CA_CERTS).
//
//   node tls/certs.js DIR

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node tls/certs.js DIR');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
const f = (name) => path.join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

openssl('req', '-x509', ...ec, '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '1',
  '-subj', '/CN=Pixiu e2e CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
openssl('req', ...ec, '-keyout', f('key.pem'), '-out', f('leaf.csr'), '-subj', '/CN=localhost');
fs.writeFileSync(f('leaf.ext'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n');
openssl('x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial',
  '-out', f('cert.pem'), '-days', '1', '-extfile', f('leaf.ext'));
for (const name of ['ca-key.pem', 'leaf.csr', 'leaf.ext', 'ca.srl']) fs.rmSync(f(name), { force: true });
console.log(`e2e: TLS certificates in ${dir}`);
