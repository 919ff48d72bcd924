/**
 * A node's credentials toward etcd, and the start-up check that etcd takes
 * them. etcd write access mints tokens and rewrites placement, so it is
 * cluster admin: an operator turns on etcd's client TLS and RBAC, and a
 * node that cannot use them must say which credential is wrong and stop,
 * not crash later on its first write with a gRPC status.
 *
 * etcd3 reads the credentials once, when the client is made: a new client
 * certificate takes a restart (docs/operations.md).
 */
import type { Etcd3, IOptions } from 'etcd3';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError, GRPCUnavailableError, GRPCDeadlineExceededError } from 'etcd3';
import type { Logger } from 'pino';
import type { NodeConfig } from '../../config.ts';
import { SluiceError } from '../../core/errors.ts';
import { readCaFile, readClientPair, readSecretFile } from '../../security/secret-file.ts';
import type { EtcdKeys } from './etcd-keys.ts';
import { diagnoseEtcdUrl, type EtcdTls } from './etcd-tls-probe.ts';
import { reauthenticateWatchStreams } from './etcd-watch-reauth.ts';

/** Longest the start-up check waits for one etcd answer. */
const ACCESS_CHECK_TIMEOUT_MS = 10_000;
/** URLs probed for the reason etcd cannot be reached (the rest likely share it). */
const URLS_DIAGNOSED_MAX = 3;

/** etcd3's TLS and user options from the files `config` names (read now: the client keeps them for its life). */
export async function etcdSecurityOptions(config: NodeConfig): Promise<Pick<IOptions, 'credentials' | 'auth'>> {
  const options: Pick<IOptions, 'credentials' | 'auth'> = {};
  if (config.etcdCaFile !== '') {
    const rootCertificate = await readCaFile(config.etcdCaFile, '--etcd-ca');
    const pair = config.etcdCertFile === '' ? undefined : await readClientPair(config.etcdCertFile, config.etcdKeyFile, { cert: '--etcd-cert', key: '--etcd-key' });
    options.credentials = { rootCertificate, ...(pair === undefined ? {} : { certChain: pair.cert, privateKey: pair.key }) };
  }
  if (config.etcdUser !== '') {
    options.auth = { username: config.etcdUser, password: await readSecretFile(config.etcdPasswordFile, '--etcd-password-file') };
    reauthenticateWatchStreams();
  }
  return options;
}

/** Logs a warning for each plain-HTTP etcd URL off this machine: its traffic, etcd passwords included, crosses the network in clear. */
export function warnPlaintextEtcd(urls: readonly string[], log: Logger): void {
  for (const url of urls) {
    if (url.startsWith('https://') || isLoopbackUrl(url)) continue;
    log.warn({ event: 'etcd_plaintext', url }, `etcd at ${url} is reached over plain HTTP: anyone on the path can read and rewrite cluster metadata (tokens, placement); use https:// with --etcd-ca, and etcd's client certificates or RBAC`);
  }
}

function isLoopbackUrl(url: string): boolean {
  const host = hostOf(url);
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The host of `url` (`http://h:p`, `https://[::1]:p`, or a bare `h:p`), without brackets. */
function hostOf(url: string): string {
  try {
    return new URL(/^[a-z]+:\/\//i.test(url) ? url : `http://${url}`).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  } catch {
    return '';
  }
}

/**
 * Proves access without a trace: under the prefix and the election's keys
 * (etcd-keys.ts), a read and a delete of a key that never exists. A
 * SluiceError saying what to fix when etcd refuses.
 */
export async function checkEtcdAccess(client: Etcd3, keys: EtcdKeys, config: NodeConfig): Promise<void> {
  const options = (): { deadline: number } => ({ deadline: Date.now() + ACCESS_CHECK_TIMEOUT_MS });
  for (const prefix of [keys.prefix, keys.electionKeys]) {
    try {
      await client.get(`${prefix}.access-check`).options(options()).string();
      await client.delete().key(`${prefix}.access-check`).options(options()).exec();
    } catch (err) {
      throw await explainEtcdFailure(err, keys, prefix, config);
    }
  }
}

async function explainEtcdFailure(err: unknown, keys: EtcdKeys, prefix: string, config: NodeConfig): Promise<SluiceError> {
  const user = config.etcdUser;
  const at = config.etcdUrls.join(',');
  const message = (err as Error).message;
  if (err instanceof EtcdAuthenticationFailedError) {
    return new SluiceError('UNAUTHENTICATED', `etcd rejected user ${user}: authentication failed (check --etcd-user and the password in --etcd-password-file)`, [], { cause: err });
  }
  if (/authentication is not enabled/.test(message)) {
    return new SluiceError('INVALID_ARGUMENT', `etcd at ${at} has authentication off, so it takes no user: enable etcd's RBAC (docs/operations.md), or drop --etcd-user and --etcd-password-file`, [], { cause: err });
  }
  if (err instanceof EtcdPermissionDeniedError) {
    const grant = `readwrite on the prefixes ${keys.prefix} and ${keys.electionKeys} (etcdctl role grant-permission <role> --prefix=true readwrite <prefix>)`;
    const fix = user === '' ? `its RBAC is on: give --etcd-user and --etcd-password-file of a user whose role has ${grant}` : `grant the role of user ${user} ${grant}`;
    return new SluiceError('PERMISSION_DENIED', `etcd at ${at} refused to let ${user === '' ? 'this node' : `user ${user}`} read and write ${prefix}: ${fix}`, [], { cause: err });
  }
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) {
    const tls = tlsOf(config);
    for (const url of config.etcdUrls.slice(0, URLS_DIAGNOSED_MAX)) {
      const reason = await diagnoseEtcdUrl(url, tls);
      if (reason !== undefined) return new SluiceError(reason.code, reason.message, [], { cause: err });
    }
    return new SluiceError('NOT_READY', `cannot reach etcd at ${at}: ${message}`, [], { cause: err });
  }
  return new SluiceError('NOT_READY', `etcd at ${at} failed the start-up check: ${message}`, [], { cause: err });
}

function tlsOf(config: NodeConfig): EtcdTls {
  return { caFile: config.etcdCaFile, certFile: config.etcdCertFile, keyFile: config.etcdKeyFile };
}
