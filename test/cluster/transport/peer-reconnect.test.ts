/**
 * A peer back from an outage is reached again within about a second, not
 * after gRPC's reconnect backoff, which grows to two minutes: after 30 s
 * of refused connections that backoff waits ~13 s more (measured: 10.8 s
 * after 60 s down), and the peer looked dead to the others all that while.
 * A real grpc-js server is stopped for 30 s and started again on the same
 * port while the transport's health checks keep failing against it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { GrpcServer, replicaGrpcService } from '../../../src/cluster/transport/grpc-server.ts';
import { GrpcTransport } from '../../../src/cluster/transport/grpc-transport.ts';
import { plaintextPeers } from '../../../src/cluster/transport/peer-tls.ts';
import type { ReplicaHandlers } from '../../../src/cluster/transport/replica-transport.ts';
import { PEER_RECONNECT_BACKOFF_MS_MAX } from '../../../src/config.ts';

const OUTAGE_MS = 30_000;
const CHECK_EVERY_MS = 250;
/** The bound: the longest backoff, a check's cadence, and room for a loaded machine. */
const BACK_WITHIN_MS = PEER_RECONNECT_BACKOFF_MS_MAX * 1.2 + CHECK_EVERY_MS + 2_000;

test('a peer down for 30 s is checked healthy again within a few seconds of its return', { timeout: 90_000 }, async (t) => {
  const services = [replicaGrpcService({} as ReplicaHandlers)];
  let server = await GrpcServer.start('127.0.0.1', 0, services);
  const port = server.port;
  const transport = new GrpcTransport(plaintextPeers());
  t.after(async () => {
    transport.close();
    await server.stop(1_000);
  });
  transport.setAddress('peer', `127.0.0.1:${port}`);
  assert.equal(await transport.check('peer', 2_000), true, 'reachable before the outage');

  await server.stop(1_000);
  const downUntil = Date.now() + OUTAGE_MS;
  let passed = 0;
  while (Date.now() < downUntil) {
    if (await transport.check('peer', 1_000)) passed++;
    await sleep(CHECK_EVERY_MS);
  }
  assert.equal(passed, 0, 'no check passes while the peer is down');

  server = await GrpcServer.start('127.0.0.1', port, services);
  const back = Date.now();
  while (!(await transport.check('peer', 1_000))) {
    assert.ok(Date.now() - back < 30_000, 'the peer is never reached again');
    await sleep(CHECK_EVERY_MS);
  }
  const tookMs = Date.now() - back;
  t.diagnostic(`reached ${tookMs} ms after the peer was back`);
  assert.ok(tookMs < BACK_WITHIN_MS, `reached only ${tookMs} ms after the peer was back (bound ${BACK_WITHIN_MS} ms)`);
});
