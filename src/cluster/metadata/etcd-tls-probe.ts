/**
 * Why an etcd URL cannot be reached. grpc-js reports a failed TLS handshake
 * as "UNAVAILABLE: No connection established. Last error: null", whatever
 * failed: an untrusted server certificate, a client certificate etcd
 * refused or none given, a plaintext etcd behind an https:// URL. This
 * dials the URL itself with `node:tls` (or `node:net`) and the same files,
 * sends the HTTP/2 preface, and turns what comes back into an operator's
 * fix. Under TLS 1.3 a refused client certificate shows only after the
 * handshake, as an alert in answer to the first bytes sent: hence the preface.
 */
import { readFile } from 'node:fs/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ErrorCode } from '../../core/errors.ts';
import { isCertificateVerifyError } from '../../security/tls-errors.ts';

/** The TLS files a node dials etcd with ('' when not given). */
export interface EtcdTls {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** What is wrong with one URL, as a code and a message saying what to fix. */
export interface EtcdUrlProblem {
  readonly code: ErrorCode;
  readonly message: string;
}

/** Longest one probe waits for the server. */
const PROBE_TIMEOUT_MS = 5_000;
/** HTTP/2 client preface and an empty SETTINGS frame: what a gRPC client sends first. */
const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);
/** First byte of a TLS alert record: a TLS server answering plaintext bytes. */
const TLS_ALERT_RECORD = 0x15;

type Outcome = { ok: true; first: Buffer } | { ok: false; error: NodeJS.ErrnoException } | { ok: false; error: undefined };

/** The problem with `url` when it has one a dial can show; undefined when the server answered as a gRPC server would. */
export async function diagnoseEtcdUrl(url: string, tls: EtcdTls): Promise<EtcdUrlProblem | undefined> {
  const target = parse(url);
  if (target === undefined) return { code: 'INVALID_ARGUMENT', message: `etcd URL ${url} is not http(s)://host:port` };
  const { host, port, secure } = target;
  if (!secure) {
    const outcome = await exchange(netConnect({ host, port }), 'connect');
    const tlsHint = 'use an https:// URL and give --etcd-ca (and --etcd-cert/--etcd-key if etcd has --client-cert-auth)';
    if (outcome.ok) return outcome.first[0] === TLS_ALERT_RECORD ? { code: 'INVALID_ARGUMENT', message: `etcd at ${url} serves TLS: ${tlsHint}` } : undefined;
    // A TLS server drops a connection whose first bytes are no TLS record, without a word.
    if (outcome.error?.code === 'ECONNRESET') return { code: 'INVALID_ARGUMENT', message: `etcd at ${url} closed a plaintext connection at once: if it serves TLS, ${tlsHint}` };
    return unreachable(url, outcome.error);
  }
  const files = await readTlsFiles(tls);
  const socket = tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ['h2'], ...files });
  const outcome = await exchange(socket, 'secureConnect');
  if (outcome.ok) return undefined;
  const error = outcome.error;
  if (error === undefined) return unreachable(url, error);
  const code = error.code ?? '';
  if (code.startsWith('ERR_SSL_SSL/TLS_ALERT') || code.startsWith('ERR_SSL_TLSV13_ALERT')) {
    const alert = /alert ([a-z ]+)/.exec(error.message)?.[1]?.trim() ?? code;
    if (tls.certFile === '') return { code: 'UNAUTHENTICATED', message: `etcd at ${url} refused the TLS connection (alert: ${alert}): it requires a client certificate (--client-cert-auth); give --etcd-cert and --etcd-key` };
    return { code: 'UNAUTHENTICATED', message: `etcd at ${url} refused the client certificate --etcd-cert ${tls.certFile} (alert: ${alert}): it must be issued by a CA in etcd's --trusted-ca-file` };
  }
  if (isCertificateVerifyError(code)) {
    return { code: 'UNAUTHENTICATED', message: `etcd's server certificate at ${url} is not trusted (${error.message}): --etcd-ca must hold the CA that issued etcd's --cert-file, and the certificate must name ${host}` };
  }
  if (code === 'ECONNRESET' || code === 'EPROTO' || /wrong version number|packet length too long/.test(error.message)) {
    return { code: 'INVALID_ARGUMENT', message: `etcd at ${url} does not speak TLS (${error.message}): use an http:// URL, or start etcd with --cert-file and --key-file` };
  }
  return unreachable(url, error);
}

function unreachable(url: string, error: NodeJS.ErrnoException | undefined): EtcdUrlProblem {
  return { code: 'NOT_READY', message: `cannot reach etcd at ${url}: ${error === undefined ? `no answer within ${PROBE_TIMEOUT_MS} ms` : error.message}` };
}

/** Waits for `ready`, sends the preface, and resolves with the first bytes back, the error, or nothing at the timeout. */
function exchange(socket: Socket, ready: 'connect' | 'secureConnect'): Promise<Outcome> {
  return new Promise((resolve) => {
    const done = (outcome: Outcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done({ ok: false, error: undefined }), PROBE_TIMEOUT_MS);
    socket.once(ready, () => socket.write(H2_PREFACE));
    socket.once('data', (first: Buffer) => done({ ok: true, first }));
    socket.once('error', (error: NodeJS.ErrnoException) => done({ ok: false, error }));
    socket.once('close', () => done({ ok: false, error: Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }) }));
  });
}

async function readTlsFiles(tls: EtcdTls): Promise<{ ca?: Buffer; cert?: Buffer; key?: Buffer }> {
  // Already read and checked once by etcdSecurityOptions; a file gone since is left to the handshake to report.
  const read = (file: string): Promise<Buffer | undefined> => (file === '' ? Promise.resolve(undefined) : readFile(file).catch(() => undefined));
  const [ca, cert, key] = await Promise.all([read(tls.caFile), read(tls.certFile), read(tls.keyFile)]);
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
}

function parse(url: string): { host: string; port: number; secure: boolean } | undefined {
  try {
    const u = new URL(/^[a-z]+:\/\//i.test(url) ? url : `http://${url}`);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    const port = u.port === '' ? 2379 : Number(u.port);
    return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port, secure: u.protocol === 'https:' };
  } catch {
    return undefined;
  }
}
