/**
 * Test launcher for a real Apache Kafka broker: KRaft, one JVM that is broker
 * and controller, on free loopback ports, in its own temp dir formatted with
 * Kafka's storage tool, stopped by PID and removed when the test ends.
 *
 * The jars come from the cache that `scripts/kafka.sh fetch` fills (npm test
 * runs it first; here it is a no-op or, run alone, fetches once). Server
 * properties come from `scripts/kafka.sh config`, plus two for tests (one
 * partition for __consumer_offsets, no topic auto-creation); JVM flags follow
 * the script's (keep them in step) but compile with C1 only by default; only
 * warnings are logged, to stderr. On request a SASL_SSL listener is added
 * beside the PLAINTEXT one, with SCRAM and PLAIN users (`saslSsl`), and
 * ACLs that bind those users (`acls`).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Admin } from '@platformatic/kafka';
import { freePort } from './etcd.ts';
import { ROOT } from './harness.ts';
import { spawnOwned } from './owned-spawn.ts';

const KAFKA_SCRIPT = path.join(ROOT, 'scripts', 'kafka.sh');
/** A cold fetch downloads ~44 MB of jars and builds the class-data archive. */
const FETCH_TIMEOUT_MS = 10 * 60_000;
/** The JDK of JAVA_HOME, as scripts/kafka.sh, else java on PATH. */
const JAVA = process.env['JAVA_HOME'] ? path.join(process.env['JAVA_HOME'], 'bin', 'java') : 'java';
const FORMAT_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 60_000;
/** A clean KRaft shutdown of one node takes about half a second. */
const STOP_TIMEOUT_MS = 10_000;
/** Between readiness probes. */
const READY_POLL_MS = 50;
const LOG_TAIL_CHARS_MAX = 20_000;
/** Retries of the clients made with `clientOptions`: 100 ms apart (the library's default is 1 s), up to 5 s in all. */
const CLIENT_RETRY_DELAY_MS = 100;
const CLIENT_RETRIES = 50;

/** What a test can ask of its broker. */
export interface KafkaBrokerOptions {
  /**
   * Broker JVM heap limit in MiB.
   * @default 512
   */
  readonly heapMb?: number;
  /**
   * Run the JVM's optimising compiler (C2), as a production broker does. Off,
   * the broker compiles with C1 only: it starts about half a second sooner and
   * is slower at volume, which suits tests; a benchmark turns this on.
   * @default false
   */
  readonly optimizingJit?: boolean;
  /**
   * Also serve a SASL_SSL listener (`saslBootstrap`) with this PEM
   * certificate and PKCS#8 key, taking SCRAM-SHA-256, SCRAM-SHA-512 (their
   * credentials made at format time) and PLAIN logins of `users`. The
   * PLAINTEXT listener stays for the test's own clients.
   */
  readonly saslSsl?: KafkaSaslSslListener;
  /**
   * Authorize with ACLs (KRaft's StandardAuthorizer): a SASL user may do
   * only what an ACL allows; the PLAINTEXT listener's principal
   * (`User:ANONYMOUS`: the test's own clients, the controller) is a super
   * user. Meant with `saslSsl`.
   * @default false
   */
  readonly acls?: boolean;
}

/** What `acls` adds to the server properties. */
const ACL_PROPERTIES = `
# Test-only ACLs (test/process/kafka.ts, acls):
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
`;

/** A SASL_SSL listener's certificate and users. */
export interface KafkaSaslSslListener {
  readonly certPem: string;
  readonly keyPem: string;
  readonly users: readonly { readonly name: string; readonly password: string }[];
}

let home: Promise<string> | undefined;

/** The cached Kafka directory (with libs/ and kafka.jsa), fetched once per process. */
function kafkaHome(): Promise<string> {
  home ??= new Promise((resolve, reject) => {
    execFile('bash', [KAFKA_SCRIPT, 'fetch'], { timeout: FETCH_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`scripts/kafka.sh fetch failed, so there is no Kafka to test against (it needs Java 17+, Maven and a reachable Maven repository):\n${stderr.slice(-4000)}`, { cause: error }));
      } else {
        resolve(stdout.trim());
      }
    });
  });
  return home;
}

/** scripts/kafka.sh's jvm_flags, plus C1 only unless asked (the archive is skipped silently when it does not fit). */
function jvmFlags(kafkaDir: string, configDir: string, options: KafkaBrokerOptions): string[] {
  return [
    `-Xmx${options.heapMb ?? 512}m`,
    '-XX:+UseSerialGC',
    ...(options.optimizingJit === true ? [] : ['-XX:TieredStopAtLevel=1']),
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    '-Xshare:auto',
    `-XX:SharedArchiveFile=${path.join(kafkaDir, 'kafka.jsa')}`,
    '-Xlog:cds=off',
    '-Xlog:cds+dynamic=off',
    `-Dlog4j2.configurationFile=${path.join(configDir, 'log4j2.properties')}`,
    '-cp',
    `${path.join(kafkaDir, 'libs')}/*`,
  ];
}

/** What tests add to scripts/kafka.sh's server properties. */
const TEST_SERVER_PROPERTIES = `
# Test-only (test/process/kafka.ts):
# One partition for the group coordinator's topic instead of 50: the first group of a
# test is served once it is created and loaded, which 50 partitions make slower.
offsets.topic.num.partitions=1
# The same for the transaction coordinator's topic, made on the first transaction (the
# Kafka source's dead letters): with 50 partitions it is served seconds later.
transaction.state.log.num.partitions=1
# Tests create their topics: a misspelt name fails instead of making a new topic.
auto.create.topics.enable=false
`;

/** Writes scripts/kafka.sh's server properties for `dir` and the ports, plus the test-only ones. */
async function writeServerProperties(dir: string, port: number, controllerPort: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    execFile('bash', [KAFKA_SCRIPT, 'config', dir, String(port), String(controllerPort)], { encoding: 'utf8' }, (error, _stdout, stderr) =>
      error ? reject(new Error(`scripts/kafka.sh config failed: ${stderr}`, { cause: error })) : resolve(),
    );
  });
  const configPath = path.join(dir, 'server.properties');
  await appendFile(configPath, TEST_SERVER_PROPERTIES);
  return configPath;
}

/** Properties that add a SASL_SSL listener on `port` (they override the same keys above them), with a PEM keystore at `keystore`. */
function saslSslProperties(port: number, plainPort: number, controllerPort: number, keystore: string, listener: KafkaSaslSslListener): string {
  const plainUsers = listener.users.map((u) => `user_${u.name}="${u.password}"`).join(' ');
  return `
# Test-only SASL_SSL listener (test/process/kafka.ts, saslSsl):
listeners=PLAINTEXT://127.0.0.1:${plainPort},CONTROLLER://127.0.0.1:${controllerPort},SASL_SSL://127.0.0.1:${port}
advertised.listeners=PLAINTEXT://127.0.0.1:${plainPort},SASL_SSL://127.0.0.1:${port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=${keystore}
`;
}

/** The storage tool's flags that make SCRAM credentials of both hashes for `users`. */
function scramArgs(users: KafkaSaslSslListener['users']): string[] {
  return users.flatMap((u) => ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => ['--add-scram', `${m}=[name=${u.name},password=${u.password}]`]));
}

/** Warnings and errors only, to stderr, which the launcher keeps the tail of for failure messages. */
const LOG4J2_PROPERTIES = `rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
`;

/**
 * A Kafka Uuid: 16 random bytes in base64url without padding. One in 64 starts
 * with "-", which the storage tool's argument parser takes for an option, so
 * those are drawn again (Kafka's own Uuid.randomUuid() does the same).
 */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Runs the storage tool; resolves with nothing, rejects with its output. */
function formatStorage(java: readonly string[], configPath: string, extra: readonly string[] = []): Promise<void> {
  const clusterId = randomClusterId();
  const args = [...java, 'kafka.tools.StorageTool', 'format', '--cluster-id', clusterId, '--config', configPath, ...extra];
  return new Promise((resolve, reject) => {
    execFile(JAVA, args, { timeout: FORMAT_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`kafka-storage format failed:\n${stdout}${stderr}`.slice(-4000), { cause: error }));
      else resolve();
    });
  });
}

/** One running broker; `bootstrap` is what clients connect to. */
export class KafkaBroker {
  /** "127.0.0.1:port" of the client listener. */
  readonly bootstrap: string;
  /** "127.0.0.1:port" of the SASL_SSL listener, when asked for (`saslSsl`). */
  saslBootstrap: string | undefined;
  /** Wall time of `start()`: fetch check, format, JVM start, first metadata answer. */
  startMs = 0;
  /** Tail of the broker's output (WARN and above). */
  output = '';
  private readonly dir: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private admin: Admin | undefined;
  private stopping: Promise<void> | undefined;
  /** The broker's command line, to start it again on the same port and log dir. */
  private args: readonly string[] = [];

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.bootstrap = `127.0.0.1:${port}`;
    this.saslBootstrap = undefined;
  }

  /** Starts a broker and waits until it answers metadata requests; stopped when the owner ends. */
  static async start(owner: { after: (fn: () => Promise<void> | void) => void }, options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
    const startedAt = performance.now();
    const kafkaDir = await kafkaHome();
    const port = await freePort();
    const controllerPort = await freePort();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-kafka-'));
    const broker = new KafkaBroker(dir, port);
    owner.after(() => broker.stop());

    const configPath = await writeServerProperties(dir, port, controllerPort);
    // Replaces the script's log4j2 config: tests keep warnings only, on stderr.
    await writeFile(path.join(dir, 'log4j2.properties'), LOG4J2_PROPERTIES);
    const java = jvmFlags(kafkaDir, dir, options);
    if (options.saslSsl !== undefined) {
      const saslPort = await freePort();
      const keystore = path.join(dir, 'broker.pem');
      // Kafka's PEM keystore: the PKCS#8 key and the certificate chain in one file.
      await writeFile(keystore, `${options.saslSsl.keyPem.trimEnd()}\n${options.saslSsl.certPem}`, { mode: 0o600 });
      await appendFile(configPath, saslSslProperties(saslPort, port, controllerPort, keystore, options.saslSsl));
      broker.saslBootstrap = `127.0.0.1:${saslPort}`;
    }
    if (options.acls === true) await appendFile(configPath, ACL_PROPERTIES);
    await formatStorage(java, configPath, options.saslSsl === undefined ? [] : scramArgs(options.saslSsl.users));
    broker.args = [...java, 'kafka.Kafka', configPath];
    broker.spawn(broker.args);
    await broker.ready();
    broker.startMs = performance.now() - startedAt;
    return broker;
  }

  private spawn(args: readonly string[]): void {
    const child = spawnOwned(JAVA, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const keep = (chunk: string): void => {
      this.output = (this.output + chunk).slice(-LOG_TAIL_CHARS_MAX);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    this.child = child;
  }

  private isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Base options for a client of this broker. A fresh broker answers the first
   * group and idempotent-producer requests with retriable errors while it
   * creates __consumer_offsets and fetches producer ids from the controller;
   * the client's default (3 retries, 1 s apart) would add a second to each
   * test, and 3 retries 100 ms apart are not always enough on a busy machine.
   */
  clientOptions(clientId: string): { clientId: string; bootstrapBrokers: string[]; retries: number; retryDelay: number } {
    return { clientId, bootstrapBrokers: [this.bootstrap], retries: CLIENT_RETRIES, retryDelay: CLIENT_RETRY_DELAY_MS };
  }

  /** An Admin client for this broker, created on first use and closed by `stop()`. */
  private client(): Admin {
    this.admin ??= new Admin({ ...this.clientOptions('sluice-test-kafka-admin'), timeout: 10_000 });
    return this.admin;
  }

  /**
   * Resolves once the broker answers a metadata request. Kafka opens the client
   * port for requests only after the broker is registered and unfenced, so an
   * answer means topics can be created.
   */
  private async ready(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!this.isRunning()) throw new Error(`the Kafka broker exited during start (${this.child?.exitCode ?? this.child?.signalCode}):\n${this.output}`);
      const probe = new Admin({ clientId: 'sluice-test-kafka-probe', bootstrapBrokers: [this.bootstrap], timeout: 1_000, retries: false });
      try {
        const metadata = await probe.metadata({ topics: [] });
        if (metadata.brokers.size > 0) return;
      } catch {
        // Not listening yet.
      } finally {
        await probe.close().catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
    throw new Error(`the Kafka broker did not answer within ${READY_TIMEOUT_MS} ms:\n${this.output}`);
  }

  /**
   * Creates a topic with one replica and waits until the broker leads every
   * partition. Metadata names the leader before the broker has taken the
   * partition on, and a produce in that gap fails with NOT_LEADER_OR_FOLLOWER
   * on some partitions; @platformatic/kafka then resends the whole request,
   * partitions already written included (duplicates unless the producer is
   * idempotent). ListOffsets needs the same leadership as Produce, so once it
   * answers for every partition a first produce goes through in one piece.
   */
  async createTopic(name: string, partitions: number): Promise<void> {
    const admin = this.client();
    await admin.createTopics({ topics: [name], partitions, replicas: 1 });
    const request = { topics: [{ name, partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n })) }] };
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        const [topic] = await admin.listOffsets(request);
        if (topic?.partitions.length === partitions) return;
      } catch (error) {
        lastError = error;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
    throw new Error(`topic ${name}: the broker does not lead all ${partitions} partitions after ${READY_TIMEOUT_MS} ms`, { cause: lastError });
  }

  /**
   * Deletes a topic and waits until the broker no longer lists it, so a
   * `createTopic` of the same name after it makes a new topic (a new topic
   * id, offsets from 0) instead of failing with TOPIC_ALREADY_EXISTS.
   */
  async deleteTopic(name: string): Promise<void> {
    const admin = this.client();
    await admin.deleteTopics({ topics: [name] });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const topics = await admin.listTopics();
      if (!topics.includes(name)) return;
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
    throw new Error(`topic ${name} is still listed ${READY_TIMEOUT_MS} ms after its deletion`);
  }

  /**
   * SIGKILLs the broker, leaves it down for `downMs`, and starts it again on
   * the same port and log dir (a crash and a restart, as an outage looks to
   * clients); resolves once it answers again.
   */
  async crashAndRestart(downMs: number): Promise<void> {
    await this.admin?.close().catch(() => {});
    this.admin = undefined;
    this.child?.kill('SIGKILL');
    await this.exited;
    await new Promise((resolve) => setTimeout(resolve, downMs));
    this.spawn(this.args);
    await this.ready();
  }

  /** SIGTERM, SIGKILL after STOP_TIMEOUT_MS, then removes the temp dir. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    await this.admin?.close().catch(() => {});
    if (this.isRunning()) {
      this.child?.kill('SIGTERM');
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS, true).unref()),
      ]);
      if (timedOut && this.isRunning()) {
        this.child?.kill('SIGKILL');
        await this.exited;
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
