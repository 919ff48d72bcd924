/**
 * One mutual-TLS handshake in process, to prove certificates work rather
 * than merely parse: a `node:tls` server that requires and verifies a
 * client certificate against the CA, and a client that verifies the
 * server's. With TLS 1.3 the client may see `secureConnect` before the
 * server has judged its certificate, so success means the client received
 * the server's first bytes, which the server sends only after accepting it.
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { peerIdentity, type PeerIdentity } from '../../src/security/certs/identity.ts';

/** A certificate and key (PEM) and the CA it trusts. */
export interface TlsSide {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** What the handshake came to. */
export interface HandshakeOutcome {
  readonly ok: boolean;
  /** The client's certificate as the server read it (success only). */
  readonly clientIdentity?: PeerIdentity | undefined;
  /** The server's certificate as the client read it (success only). */
  readonly serverIdentity?: PeerIdentity | undefined;
  /** Why the server refused, when it did. */
  readonly serverError?: string;
  /** What the client saw, when it failed. */
  readonly clientError?: string;
}

/** Runs one handshake of `client` against a server with `server`'s certificate, connecting to 127.0.0.1. */
export async function handshake(server: TlsSide, client: TlsSide, timeoutMs = 5_000): Promise<HandshakeOutcome> {
  let clientIdentity: PeerIdentity | undefined;
  let serverError: string | undefined;
  const srv = tls.createServer({ ca: [server.ca], cert: server.cert, key: server.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket) => {
    const peer = socket.getPeerX509Certificate();
    clientIdentity = peer === undefined ? undefined : peerIdentity(peer);
    socket.end('hello');
  });
  srv.on('tlsClientError', (err, socket) => {
    // Node destroys a socket whose certificate failed verification, so err is only "socket hang up"; the reason is here.
    const reason = socket.authorizationError as unknown as string | null | undefined;
    serverError = reason == null ? err.message : `${reason}: ${err.message}`;
  });
  const accepted = new Set<Socket>();
  srv.on('connection', (raw) => accepted.add(raw));
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  const socket = tls.connect({ host: '127.0.0.1', port, ca: [client.ca], cert: client.cert, key: client.key, minVersion: 'TLSv1.2' });
  try {
    const outcome = await new Promise<{ data: boolean; error?: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ data: false, error: 'timeout' }), timeoutMs);
      socket.once('data', () => {
        clearTimeout(timer);
        resolve({ data: true });
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        resolve({ data: false, error: err.message });
      });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve({ data: false, error: 'closed' });
      });
    });
    if (outcome.data) {
      const peer = socket.getPeerX509Certificate();
      return { ok: true, clientIdentity, serverIdentity: peer === undefined ? undefined : peerIdentity(peer) };
    }
    // The server's tlsClientError may trail the client's error by a tick.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { ok: false, clientError: outcome.error ?? 'failed', ...(serverError === undefined ? {} : { serverError }) };
  } finally {
    socket.destroy();
    for (const raw of accepted) raw.destroy();
    await new Promise((resolve) => srv.close(resolve));
  }
}
