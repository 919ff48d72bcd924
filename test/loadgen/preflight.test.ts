/** The preflight: a run the host cannot hold is refused with what to change; source addresses from auto, lists and ranges. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoSourceIps, parseSourceIps, preflightProblems, preflightWarnings, type HostLimits } from '../../src/loadgen/preflight.ts';

const host: HostLimits = { nofileSoft: 20_000, nofileHard: 20_000, mayRaiseHard: false, nrOpen: 1_048_576, portRange: [32768, 60999], somaxconn: 4096, conntrackMax: 262_144, conntrackCount: 100 };

test('the file-descriptor limit, the port range per source address and conntrack each refuse a run that cannot fit', () => {
  assert.deepEqual(preflightProblems({ connections: 18_000, sourceIps: ['127.0.0.2', '127.0.0.3'], targets: 1, connectPerSecond: 5000 }, host), []);
  const fds = preflightProblems({ connections: 100_000, sourceIps: autoSourceIps(100_000, true), targets: 1, connectPerSecond: 5000 }, host);
  assert.equal(fds.length, 1);
  assert.match(fds[0] as string, /need 100,064 file descriptors .* may open 20,000: raise it \(ulimit -n 100064/);
  const ports = preflightProblems({ connections: 60_000, sourceIps: ['127.0.0.2'], targets: 1, connectPerSecond: 5000 }, { ...host, nofileSoft: 200_000 });
  assert.equal(ports.length, 1);
  assert.match(ports[0] as string, /60,000 connections per source address exceed the 28,232 ephemeral ports.*--source-ips auto/);
  const conntrack = preflightProblems({ connections: 100_000, sourceIps: autoSourceIps(100_000, true), targets: 1, connectPerSecond: 5000 }, { ...host, nofileSoft: 200_000, conntrackMax: 65_536 });
  assert.equal(conntrack.length, 1);
  assert.match(conntrack[0] as string, /nf_conntrack_max/);
});

test('a connect burst larger than the listen backlog is refused', () => {
  const plan = { connections: 1000, sourceIps: [], targets: 1, connectPerSecond: 500_000 };
  const problems = preflightProblems(plan, host);
  assert.equal(problems.length, 1);
  assert.match(problems[0] as string, /5000 connections every 10 ms.*somaxconn = 4096.*lower --connect-rate to 409600/);
});

test('a source address filled past half its ports is warned about', () => {
  assert.deepEqual(preflightWarnings({ connections: 12_000, sourceIps: ['127.0.0.2'], targets: 1, connectPerSecond: 5000 }, host), []);
  assert.equal(preflightWarnings({ connections: 20_000, sourceIps: ['127.0.0.2'], targets: 1, connectPerSecond: 5000 }, host).length, 1);
});

test('source addresses: auto is one loopback address per 2,500 connections, lists and ranges as written', () => {
  const auto = autoSourceIps(100_000, true);
  assert.equal(auto.length, 40);
  assert.deepEqual([auto[0], auto[39]], ['127.0.0.2', '127.0.0.41']);
  assert.equal(autoSourceIps(1_000_000, true).length, 250, 'at most 127.0.0.2-127.0.0.251');
  assert.deepEqual(autoSourceIps(100, true), ['127.0.0.2']);
  assert.deepEqual(autoSourceIps(100_000, false), [], 'a remote node: the system picks');
  assert.deepEqual(parseSourceIps('127.0.0.2-127.0.0.4', 10, true), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
  assert.deepEqual(parseSourceIps('10.0.0.1,10.0.0.2', 10, false), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(parseSourceIps('none', 10, true), []);
  assert.throws(() => parseSourceIps('127.0.0.9-127.0.0.2', 10, true), /low-high/);
  assert.throws(() => parseSourceIps('localhost', 10, true), /not an IP address/);
});
