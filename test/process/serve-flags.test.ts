/**
 * `sluice serve` flags against a real node: a value that `--help` and the
 * bounds in config.ts allow starts a node that takes writes, and a flag
 * that would do nothing without another one is refused, not ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeProcess, http, sleep, tempDir } from './harness.ts';

/** How long a refused start may take (loading the CLI); a node still running then has ignored the flag. */
const REFUSAL_WAIT_MS = 15_000;

const TABLE = { name: 'readings', shardKey: 'host', fields: [{ name: 'host', type: 'string', required: true }, { name: 'n', type: 'int' }] };

test('--wal-flush-delay-ms-max below the adaptive flush delay\'s default (0 and 5, within its documented ≤ 200) starts and acknowledges writes', async (t) => {
  for (const delayMs of ['0', '5']) {
    const node = await NodeProcess.start(t, { dataDir: tempDir(t), args: ['--wal-flush-delay-ms-max', delayMs] });
    assert.equal((await http(`${node.url}/v1/tables`, { method: 'POST', body: JSON.stringify(TABLE), headers: { 'content-type': 'application/json' } })).status, 201);
    const res = await http(`${node.url}/v1/tables/readings/records`, { method: 'POST', body: JSON.stringify([{ host: 'a', n: 1 }, { host: 'b', n: 2 }]), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.written, 2);
    await node.kill('SIGTERM');
  }
});

test('flags that only work with another one are refused naming it, not ignored: --kafka-group, --kafka-dlq-topic and --kafka-incarnations-topic need --kafka-brokers; --grpc-peer, --certs-dir and --insecure-cluster need --etcd', { timeout: 120_000 }, async (t) => {
  const cases: [readonly string[], RegExp][] = [
    [['--kafka-group', 'readers'], /--kafka-group needs --kafka-brokers/],
    [['--kafka-dlq-topic', 'refused'], /--kafka-dlq-topic needs --kafka-brokers/],
    [['--kafka-incarnations-topic', 'regs'], /--kafka-incarnations-topic needs --kafka-brokers/],
    [['--grpc-peer', '127.0.0.1:7171'], /--grpc-peer needs --etcd/],
    [['--certs-dir', tempDir(t)], /--certs-dir needs --etcd/],
    [['--insecure-cluster'], /--insecure-cluster needs --etcd/],
  ];
  for (const [args, message] of cases) {
    const node = NodeProcess.spawn({ dataDir: tempDir(t), args });
    t.after(async () => {
      await node.kill('SIGKILL');
    });
    const exit = await Promise.race([node.waitExit(), sleep(REFUSAL_WAIT_MS).then(() => undefined)]);
    assert.ok(exit !== undefined, `sluice serve ${args.join(' ')} still runs after ${REFUSAL_WAIT_MS} ms: the flag was ignored`);
    assert.equal(exit.code, 2, node.stderr);
    assert.match(node.stderr, message);
  }
});
