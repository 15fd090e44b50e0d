/**
 * Certificates made at test time with the `openssl` command: a CA, server
 * and client certificates it signs, and a second CA nobody trusts. EC P-256
 * keys keep generation fast.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A directory of PEM files; `remove()` deletes it. */
export class TestPki {
  readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'roost-pki-'));
  }

  /** A self-signed CA named `name`. */
  ca(name: string): CertFiles {
    const files = this.#files(name);
    openssl(
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ],
      this.dir,
    );
    return files;
  }

  /** A leaf certificate for `cn`, signed by `ca`: a server one (SAN 127.0.0.1, localhost) or a client one. */
  issue(name: string, cn: string, ca: CertFiles, usage: 'server' | 'client'): CertFiles {
    const files = this.#files(name);
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', files.key, '-out', csr, '-subj', `/CN=${cn}`], this.dir);
    writeFileSync(
      ext,
      usage === 'server'
        ? 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
        : 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n',
    );
    openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', files.cert, '-days', '2', '-extfile', ext], this.dir);
    return files;
  }

  /** Copies `from` over `to` (what an operator does before SIGHUP). */
  replace(to: CertFiles, from: CertFiles): void {
    copyFileSync(from.cert, to.cert);
    copyFileSync(from.key, to.key);
  }

  read(path: string): Buffer {
    return readFileSync(path);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #files(name: string): CertFiles {
    return { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
  }
}

/** The usual set: CA, server certificate, a client of that CA, and a client of a CA the server does not trust. */
export function standardPki(): { pki: TestPki; ca: CertFiles; server: CertFiles; client: CertFiles; rogue: CertFiles } {
  const pki = new TestPki();
  const ca = pki.ca('roost-test-ca');
  const server = pki.issue('server', 'roost-server-a', ca, 'server');
  const client = pki.issue('client', 'device-42', ca, 'client');
  const otherCa = pki.ca('someone-else-ca');
  const rogue = pki.issue('rogue', 'intruder', otherCa, 'client');
  return { pki, ca, server, client, rogue };
}

/** Opens a TLS connection to 127.0.0.1:`port`; resolves once the handshake is done, rejects when it fails. */
export function tlsOpen(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
    // TLS 1.3: a refused client certificate shows up after the handshake, as an alert and a close.
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
}
