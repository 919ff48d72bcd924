/**
 * Clients for tests of TLS listeners: what certificate a port serves (read
 * without verifying it), an HTTPS request trusting a given CA (fetch takes
 * none), and a gRPC health check over given channel credentials.
 */
import type { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import tls from 'node:tls';
import { makeClientConstructor, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { TEST_TOKEN } from './auth.ts';

/** The leaf certificate served on 127.0.0.1:`port` (`h2` asks for gRPC's ALPN protocol). */
export async function servedCert(port: number, alpn?: 'h2'): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...(alpn === undefined ? {} : { ALPNProtocols: [alpn] }) }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert === undefined) reject(new Error('no certificate served'));
      else resolve(cert);
    });
    socket.once('error', reject);
  });
}

/**
 * Whether a TLS 1.0/1.1 client completes a handshake with 127.0.0.1:`port`:
 * 'ok', or its error code. The client lowers OpenSSL's security level so
 * that it offers those versions at all; the refusal is then the server's.
 */
export function oldTlsHandshake(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
      socket.destroy();
      resolve('ok');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** What an HTTPS request came to: the answer, or the client's error code (a failed handshake). */
export type HttpsOutcome = { status: number; text: string; error?: undefined } | { status?: undefined; text?: undefined; error: string };

/** A request to `url` trusting only `ca`, with `authorization: Bearer <token>` (TEST_TOKEN by default). */
export function httpsGet(url: string, ca: string | undefined, token: string = TEST_TOKEN, options: tls.ConnectionOptions = {}): Promise<HttpsOutcome> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { ...options, ...(ca === undefined ? {} : { ca }), agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

type HealthClient = Client & { Check(req: object, options: { deadline: number }, cb: (err: ServiceError | null, reply: { status: string | number }) => void): void };
const Health = makeClientConstructor(healthService as never, 'grpc.health.v1.Health') as unknown as new (address: string, credentials: ChannelCredentials) => HealthClient;

/** A gRPC health check of 127.0.0.1:`port` over `credentials`: 'SERVING' and the like, or `error: <details>`. */
export async function grpcHealth(port: number, credentials: ChannelCredentials, timeoutMs = 5_000): Promise<string> {
  const client = new Health(`127.0.0.1:${port}`, credentials);
  try {
    return await new Promise((resolve) => {
      client.Check({ service: '' }, { deadline: Date.now() + timeoutMs }, (err, reply) => resolve(err === null ? String(reply.status) : `error: ${err.details}`));
    });
  } finally {
    client.close();
  }
}
