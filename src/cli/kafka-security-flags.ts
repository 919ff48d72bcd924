/**
 * The flags of a Kafka source's TLS and SASL, the same in `sluice serve`
 * and `sluice kafka`. There is no password flag: a command line is visible
 * to every user of the machine, so the password comes from a file.
 */
import { Option, type Command } from 'commander';
import { isSluiceError } from '../core/errors.ts';
import { KAFKA_PLAINTEXT, KAFKA_SASL_MECHANISMS, type KafkaSecurity } from '../sources/kafka/kafka-source-config.ts';
import { checkKafkaSecurity, kafkaConnectionOptions } from '../sources/kafka/kafka-security.ts';
import { CliError } from './cli-error.ts';

/** The parsed flags. */
export interface KafkaSecurityFlags {
  kafkaTls?: boolean;
  kafkaCa?: string;
  kafkaSasl?: string;
  kafkaUser?: string;
  kafkaPasswordFile?: string;
}

/** The five options, to add where a command lists its Kafka flags. */
export function kafkaSecurityOptions(): { tls: Option; ca: Option; sasl: Option; user: Option; passwordFile: Option } {
  return {
    tls: new Option('--kafka-tls', 'dial the Kafka brokers over TLS (their certificates checked against --kafka-ca, else the system\'s CAs)'),
    ca: new Option('--kafka-ca <file>', 'CA certificates (PEM) the brokers\' certificates chain to (with --kafka-tls)'),
    sasl: new Option('--kafka-sasl <mechanism>', 'log in to the brokers with SASL (with --kafka-user and --kafka-password-file)').choices([...KAFKA_SASL_MECHANISMS]),
    user: new Option('--kafka-user <name>', 'SASL user name'),
    passwordFile: new Option('--kafka-password-file <file>', 'a file holding the SASL password (trimmed; only its owner may read it; read at each login)'),
  };
}

/** Adds the five options to `command`. */
export function addKafkaSecurityOptions(command: Command): Command {
  const o = kafkaSecurityOptions();
  return command.addOption(o.tls).addOption(o.ca).addOption(o.sasl).addOption(o.user).addOption(o.passwordFile);
}

/** Whether any of the flags was given. */
export function hasKafkaSecurityFlags(o: KafkaSecurityFlags): boolean {
  return o.kafkaTls === true || o.kafkaCa !== undefined || o.kafkaSasl !== undefined || o.kafkaUser !== undefined || o.kafkaPasswordFile !== undefined;
}

/** The KafkaSecurity the flags ask for; exit 2 naming the flags when they do not go together. */
export function kafkaSecurityOf(o: KafkaSecurityFlags): KafkaSecurity {
  const security: KafkaSecurity = {
    tls: o.kafkaTls === true,
    caFile: o.kafkaCa ?? KAFKA_PLAINTEXT.caFile,
    sasl: (o.kafkaSasl as KafkaSecurity['sasl'] | undefined) ?? 'none',
    user: o.kafkaUser ?? KAFKA_PLAINTEXT.user,
    passwordFile: o.kafkaPasswordFile ?? KAFKA_PLAINTEXT.passwordFile,
  };
  try {
    checkKafkaSecurity(security);
  } catch (err) {
    if (isSluiceError(err)) throw new CliError(err.message, 2);
    throw err;
  }
  return security;
}

/** Reads the CA and password files once, so a missing or open file stops the command at start (exit 2). */
export async function checkKafkaSecurityFiles(security: KafkaSecurity): Promise<void> {
  try {
    await kafkaConnectionOptions(security);
  } catch (err) {
    if (isSluiceError(err)) throw new CliError(err.message, 2);
    throw err;
  }
}
