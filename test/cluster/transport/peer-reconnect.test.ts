/**
 * A peer back from an outage is reached again within about a second, not
 * after gRPC's reconnect backoff, which grows to two minutes: after 30 s
 * of refused connections that backoff waited 14 s more, and the peer
 * looked dead to the others all that while. Measured here by what the
 * backoff does: the peer's port accepts and drops every connection (a
 * failed attempt, counted) while the transport's health checks keep
 * asking; gRPC's own backoff makes 4 attempts in 6 s (at 0, 1, 2.6 and
 * 5.2 s), a bounded one ~10. Then a real grpc-js server takes the port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { GrpcServer, replicaGrpcService } from '../../../src/cluster/transport/grpc-server.ts';
import { GrpcTransport } from '../../../src/cluster/transport/grpc-transport.ts';
import { plaintextPeers } from '../../../src/cluster/transport/peer-tls.ts';
import type { ReplicaHandlers } from '../../../src/cluster/transport/replica-transport.ts';
import { PEER_CHANNEL_RESET_MS, GRPC_RECONNECT_BACKOFF_MS_MAX } from '../../../src/config.ts';

const OUTAGE_MS = 6_000;
const CHECK_EVERY_MS = 100;

test('a peer that is down is retried at least every second, and reached as soon as it is back', { timeout: 60_000 }, async (t) => {
  const services = [replicaGrpcService({} as ReplicaHandlers)];
  let server: GrpcServer | undefined = await GrpcServer.start('127.0.0.1', 0, services);
  const port = server.port;
  // Why each check failed, as the node logs it (peer_check_failed).
  const reasons: string[] = [];
  const transport = new GrpcTransport(plaintextPeers(), undefined, (peer, reason) => reasons.push(`${peer} ${reason}`));
  t.after(async () => {
    transport.close();
    await server?.stop(1_000);
  });
  transport.setAddress('peer', `127.0.0.1:${port}`);
  assert.equal(await transport.check('peer', 2_000), true, 'reachable before the outage');
  await server.stop(1_000);
  server = undefined;

  // The outage: every connection to the peer's port is dropped at once.
  let attempts = 0;
  const dropper = net.createServer((socket) => {
    attempts++;
    socket.destroy();
  });
  dropper.listen(port, '127.0.0.1');
  await once(dropper, 'listening');
  const downUntil = Date.now() + OUTAGE_MS;
  let passed = 0;
  let failed = 0;
  while (Date.now() < downUntil) {
    if (await transport.check('peer', 1_000)) passed++;
    else failed++;
    await sleep(CHECK_EVERY_MS);
  }
  dropper.close();
  await once(dropper, 'close');
  assert.equal(passed, 0, 'no check passes while the peer is down');
  assert.equal(reasons.length, failed, 'every failed check says why');
  for (const r of reasons) assert.match(r, /^peer (UNAVAILABLE|DEADLINE_EXCEEDED): /);
  t.diagnostic(`${attempts} connection attempts in ${OUTAGE_MS} ms; a failed check said: ${reasons.at(-1)}`);
  // At most GRPC_RECONNECT_BACKOFF_MS_MAX (+20% jitter) apart, after a few shorter waits at the start.
  assert.ok(attempts >= Math.floor(OUTAGE_MS / (GRPC_RECONNECT_BACKOFF_MS_MAX * 1.2)), `only ${attempts} connection attempts in ${OUTAGE_MS} ms`);

  server = await GrpcServer.start('127.0.0.1', port, services);
  const back = Date.now();
  while (!(await transport.check('peer', 1_000))) {
    assert.ok(Date.now() - back < 30_000, 'the peer is never reached again');
    await sleep(CHECK_EVERY_MS);
  }
  t.diagnostic(`reached ${Date.now() - back} ms after the peer was back`);
});

test('a connection that takes health checks and answers none is replaced after PEER_CHANNEL_RESET_MS, and the peer is reached on a new one', { timeout: 60_000 }, async (t) => {
  const server = await GrpcServer.start('127.0.0.1', 0, [replicaGrpcService({} as ReplicaHandlers)]);
  // A proxy in front of the peer: the first connection's answers stop reaching the caller once `wedged`; later connections pass.
  let connections = 0;
  let wedged = false;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const n = ++connections;
    const upstream = net.connect(server.port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (b) => upstream.write(b));
    upstream.on('data', (b) => {
      if (!(wedged && n === 1)) client.write(b);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const resets: number[] = [];
  const transport = new GrpcTransport(plaintextPeers(), undefined, undefined, (_peer, failingMs) => resets.push(failingMs));
  t.after(async () => {
    transport.close();
    for (const s of sockets) s.destroy();
    proxy.close();
    await server.stop(1_000);
  });
  transport.setAddress('peer', `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`);
  assert.equal(await transport.check('peer', 2_000), true, 'reachable before the wedge');

  wedged = true;
  const wedgedAt = Date.now();
  while (resets.length === 0) {
    assert.ok(Date.now() - wedgedAt < PEER_CHANNEL_RESET_MS + 10_000, 'the stuck connection is never replaced');
    assert.equal(await transport.check('peer', 400), false, 'no check passes on the stuck connection');
    await sleep(CHECK_EVERY_MS);
  }
  assert.ok((resets[0] as number) >= PEER_CHANNEL_RESET_MS, `replaced after ${resets[0]} ms of failed checks`);
  assert.equal(connections, 1, 'one connection until the reset');
  const resetAt = Date.now();
  while (!(await transport.check('peer', 1_000))) {
    assert.ok(Date.now() - resetAt < 10_000, 'the peer is not reached on a new connection');
    await sleep(CHECK_EVERY_MS);
  }
  assert.equal(connections, 2, 'reached on a second connection');
});
