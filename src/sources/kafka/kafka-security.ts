/**
 * A Kafka source's TLS and SASL, mapped to @platformatic/kafka's connection
 * options (`tls`: node:tls options; `sasl`: mechanism, username and a
 * password provider). The password is read from its file at each login,
 * never held in config, never on a command line: a rotated file is used
 * from the next connection on.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { SASLOptions } from '@platformatic/kafka';
import { SluiceError } from '../../core/errors.ts';
import { readCaFile, readSecretFile } from '../../security/secret-file.ts';
import { isCertificateVerifyError } from '../../security/tls-errors.ts';
import type { KafkaSaslMechanism, KafkaSecurity } from './kafka-source-config.ts';

/** Kafka's names of the mechanisms. */
const MECHANISMS: Record<KafkaSaslMechanism, SASLOptions['mechanism']> = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
};

/** The `tls` and `sasl` options of every client of a source (consumer, dead-letter producer, admin). */
export interface KafkaConnectionOptions {
  tls?: TlsOptions;
  sasl?: SASLOptions;
}

/** Client options for `security`, its CA read now; a SluiceError naming the flag when a file is unusable. */
export async function kafkaConnectionOptions(security: KafkaSecurity): Promise<KafkaConnectionOptions> {
  checkKafkaSecurity(security);
  const options: KafkaConnectionOptions = {};
  // Without a CA, node:tls verifies the brokers against the system's CAs (never skipped).
  if (security.tls) options.tls = security.caFile === '' ? {} : { ca: await readCaFile(security.caFile, '--kafka-ca') };
  if (security.sasl !== 'none') {
    const file = security.passwordFile;
    // Checked now, so a bad file stops the start instead of failing every login.
    await readSecretFile(file, '--kafka-password-file');
    options.sasl = { mechanism: MECHANISMS[security.sasl], username: security.user, password: () => readSecretFile(file, '--kafka-password-file') };
  }
  return options;
}

/** Throws INVALID_ARGUMENT when the settings do not go together. */
export function checkKafkaSecurity(s: KafkaSecurity): void {
  if (s.caFile !== '' && !s.tls) throw new SluiceError('INVALID_ARGUMENT', '--kafka-ca needs --kafka-tls');
  if (s.sasl === 'none') {
    if (s.user !== '' || s.passwordFile !== '') throw new SluiceError('INVALID_ARGUMENT', '--kafka-user and --kafka-password-file need --kafka-sasl');
    return;
  }
  if (s.user === '' || s.passwordFile === '') throw new SluiceError('INVALID_ARGUMENT', `--kafka-sasl ${s.sasl} needs --kafka-user and --kafka-password-file`);
}

/** Causes followed into a Kafka client error (the library nests the reason three or four deep). */
const CAUSE_DEPTH_MAX = 8;

/**
 * One line for a Kafka client error: its chain of causes (the library
 * says "Cannot connect to any broker" and nests why), with a hint when the
 * reason is the login or the brokers' certificate.
 */
export function describeKafkaError(err: unknown): string {
  const parts: string[] = [];
  let login = false;
  let certificate = false;
  const walk = (e: unknown, depth: number): void => {
    if (!(e instanceof Error) || depth > CAUSE_DEPTH_MAX) return;
    const code = (e as { code?: string }).code;
    login ||= code === 'PLT_KFK_AUTHENTICATION';
    certificate ||= isCertificateVerifyError(code);
    const message = e.message.replace(/\.$/, '');
    if (!parts.includes(message)) parts.push(message);
    walk(e.cause, depth + 1);
    // One broker's reason stands for the rest (they share the settings).
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner)) walk(inner[0], depth + 1);
  };
  walk(err, 0);
  if (parts.length === 0) return String(err);
  const hint = login ? ' (check --kafka-sasl, --kafka-user and the password in --kafka-password-file)' : certificate ? ' (check --kafka-ca: the CA that issued the brokers\' certificates)' : '';
  return `${parts.join(': ')}${hint}`;
}
