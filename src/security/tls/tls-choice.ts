/**
 * The rule that a node reachable beyond loopback has chosen its TLS:
 * bearer tokens on a network in clear text are anyone's. A loopback
 * listener needs no choice (tokens still apply); any other refuses to start
 * until the operator picks certificates, `auto`, or `off` behind a proxy.
 */
import { isIP } from 'node:net';
import type { NodeConfig } from '../../config.ts';
import { SluiceError } from '../../core/errors.ts';

/** A public listener: HTTP, and gRPC (Ingest) when the node serves it. */
export interface PublicListener {
  readonly name: 'HTTP' | 'gRPC';
  readonly host: string;
  readonly port: number;
}

/** The public listeners of `config`. */
export function publicListeners(config: NodeConfig): PublicListener[] {
  const grpc = config.grpcEnabled || config.etcdUrls.length > 0;
  return [{ name: 'HTTP', host: config.httpHost, port: config.httpPort }, ...(grpc ? [{ name: 'gRPC' as const, host: config.grpcHost, port: config.grpcPort }] : [])];
}

/** Whether a listen host binds loopback only: `localhost`, 127.0.0.0/8, `::1` (a wildcard or a name may reach a network). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** INVALID_ARGUMENT listing the fixes when a listener beyond loopback has no TLS choice. */
export function requireTlsChoice(config: NodeConfig): void {
  if (config.tlsMode !== 'unset') return;
  const exposed = publicListeners(config).filter((l) => !isLoopbackHost(l.host));
  if (exposed.length === 0) return;
  const where = exposed.map((l) => `${l.name} on ${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`).join(' and ');
  throw new SluiceError(
    'INVALID_ARGUMENT',
    [
      `${where} would be reachable beyond loopback without TLS, and bearer tokens would cross the network in clear text. Choose one:`,
      '  --tls-cert FILE --tls-key FILE   serve this certificate (PEM, its chain after it) and key (chmod 600)',
      '  --tls auto                       a self-signed certificate made in <data-dir>/tls/ (clients trust it with --ca-cert)',
      '  --tls off                        plain text, only behind a proxy that terminates TLS',
      'or listen on loopback (127.0.0.1).',
    ].join('\n'),
  );
}
