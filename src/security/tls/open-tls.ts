/**
 * The TLS of a starting node: which files its public listeners serve
 * (the operator's, or the `--tls auto` pair, made on first start), loaded
 * and validated once; a CertError refuses the start. The fingerprint of
 * an auto certificate goes to stderr, where the operator copies it to
 * clients.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../../config.ts';
import { ensureAutoCert } from './auto-cert.ts';
import { CertReloader, type InitialPair } from './cert-reloader.ts';

/** The first pair of the public listeners, or undefined when they serve plain text (`--tls off`, or no choice on loopback). */
export async function openTls(config: NodeConfig, log: Logger, print: (text: string) => void): Promise<InitialPair | undefined> {
  if (config.tlsMode === 'off') log.warn({ event: 'tls_off' }, 'TLS off (--tls off): the listeners speak plain text; a proxy in front must terminate TLS');
  if (config.tlsMode === 'off' || config.tlsMode === 'unset') return undefined;
  const auto = config.tlsMode === 'auto' ? await ensureAutoCert(config) : undefined;
  const files = auto?.files ?? { cert: config.tlsCertFile, key: config.tlsKeyFile };
  const initial = await CertReloader.load(files);
  const { pair } = initial;
  if (auto !== undefined) {
    print(`sluice: TLS (--tls auto): ${auto.created ? 'made' : 'reusing'} the self-signed certificate ${files.cert}\n  SHA-256 fingerprint ${pair.fingerprint256}\n  clients trust it with: sluice --ca-cert ${files.cert} …`);
    if (auto.missingHosts.length > 0) {
      log.warn({ event: 'tls_auto_hosts', missing: auto.missingHosts, file: files.cert }, `the --tls auto certificate does not name ${auto.missingHosts.join(', ')}; remove its dir to have a new one made (clients must trust the new one)`);
    }
  }
  log.info(
    { event: 'tls', mode: config.tlsMode, cert: files.cert, key: files.key, subject: pair.subject, serial: pair.serialNumber, fingerprint: pair.fingerprint256, notAfter: pair.notAfter.toISOString(), created: auto?.created },
    'TLS certificate loaded',
  );
  return initial;
}
