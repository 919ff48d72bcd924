/**
 * Before opening N connections: can this machine hold them? The limits are
 * the file-descriptor limit (raised when we may), the ephemeral port range
 * per source address (a socket bound to a source address takes a port of
 * its own), the listen backlog a connect burst fills, and the
 * connection-tracking table. A run that cannot fit is
 * refused with what to change, instead of failing at connection 28,233.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hasSysResource, parseOpenFileLimits } from '../core/open-file-limits.ts';

/** The host's limits that bound the connections one process holds. */
export interface HostLimits {
  readonly nofileSoft: number;
  readonly nofileHard: number;
  /** CAP_SYS_RESOURCE: the hard limit may be raised too (uid 0 is not enough in a container). */
  readonly mayRaiseHard: boolean;
  readonly nrOpen: number | undefined;
  readonly portRange: readonly [number, number] | undefined;
  readonly somaxconn: number | undefined;
  readonly conntrackMax: number | undefined;
  readonly conntrackCount: number | undefined;
}

/** File descriptors the generator needs besides its connections (stdio, metrics scrapes, the JSON file). */
export const FD_RESERVE = 64;
/** A source address is kept at most this full: port search slows as the range fills. */
export const PORT_RANGE_FILL_MAX = 0.5;

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the limits of this process and host from /proc. */
export function readHostLimits(): HostLimits {
  const nofile = parseOpenFileLimits(readFileSync('/proc/self/limits', 'utf8'));
  let portRange: readonly [number, number] | undefined;
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined) portRange = [lo, hi];
  } catch {
    portRange = undefined;
  }
  return {
    nofileSoft: nofile?.soft ?? Number.POSITIVE_INFINITY,
    nofileHard: nofile?.hard ?? Number.POSITIVE_INFINITY,
    mayRaiseHard: hasSysResource(readFileSync('/proc/self/status', 'utf8')),
    nrOpen: readNumber('/proc/sys/fs/nr_open'),
    portRange,
    somaxconn: readNumber('/proc/sys/net/core/somaxconn'),
    conntrackMax: readNumber('/proc/sys/net/netfilter/nf_conntrack_max'),
    conntrackCount: readNumber('/proc/sys/net/netfilter/nf_conntrack_count'),
  };
}

/** The plan a preflight checks. */
export interface ConnectionPlan {
  readonly connections: number;
  /** Source addresses bound (empty: the system picks, and a port can serve several targets). */
  readonly sourceIps: readonly string[];
  readonly targets: number;
  /** New connections per second (the pool opens a hundredth of it every 10 ms). */
  readonly connectPerSecond: number;
}

/** Why `plan` cannot run under `limits`, one line each (empty: it can). */
export function preflightProblems(plan: ConnectionPlan, limits: HostLimits): string[] {
  const problems: string[] = [];
  const fds = plan.connections + FD_RESERVE;
  if (fds > limits.nofileSoft) {
    problems.push(
      `${plan.connections.toLocaleString('en-US')} connections need ${fds.toLocaleString('en-US')} file descriptors and this process may open ${limits.nofileSoft.toLocaleString('en-US')}: ` +
        `raise it (ulimit -n ${fds}, or with CAP_SYS_RESOURCE prlimit --pid $$ --nofile=${fds}:${fds}) or use fewer --connections`,
    );
  }
  if (limits.portRange !== undefined) {
    const ports = limits.portRange[1] - limits.portRange[0] + 1;
    const perSource = plan.sourceIps.length > 0 ? Math.ceil(plan.connections / plan.sourceIps.length) : Math.ceil(plan.connections / plan.targets);
    if (perSource > ports) {
      problems.push(
        `${perSource.toLocaleString('en-US')} connections per source address exceed the ${ports.toLocaleString('en-US')} ephemeral ports of net.ipv4.ip_local_port_range: ` +
          `give more --source-ips (on loopback any of 127.0.0.0/8), e.g. --source-ips auto`,
      );
    }
  }
  const burst = Math.ceil(plan.connectPerSecond / 100);
  if (limits.somaxconn !== undefined && burst > limits.somaxconn) {
    problems.push(
      `--connect-rate ${plan.connectPerSecond} opens ${burst} connections every 10 ms, more than a listen backlog holds (net.core.somaxconn = ${limits.somaxconn}): ` +
        `the rest would be dropped and retried a second later; lower --connect-rate to ${limits.somaxconn * 100} or raise net.core.somaxconn (and the node's --http-backlog)`,
    );
  }
  if (limits.conntrackMax !== undefined && limits.conntrackCount !== undefined && plan.connections > limits.conntrackMax - limits.conntrackCount) {
    problems.push(
      `the connection-tracking table holds ${limits.conntrackMax.toLocaleString('en-US')} entries and ${limits.conntrackCount.toLocaleString('en-US')} are in use: ` +
        `raise net.netfilter.nf_conntrack_max (sysctl) above ${(plan.connections + limits.conntrackCount).toLocaleString('en-US')}`,
    );
  }
  return problems;
}

/** Warnings that do not stop a run. */
export function preflightWarnings(plan: ConnectionPlan, limits: HostLimits): string[] {
  const warnings: string[] = [];
  if (limits.portRange !== undefined && plan.sourceIps.length > 0) {
    const ports = limits.portRange[1] - limits.portRange[0] + 1;
    const perSource = Math.ceil(plan.connections / plan.sourceIps.length);
    if (perSource > ports * PORT_RANGE_FILL_MAX) warnings.push(`each source address takes ${perSource} of its ${ports} ports: connects slow down as the range fills; more --source-ips help`);
  }
  return warnings;
}

/**
 * Raises this process's open-file limit to `wanted` when the soft limit is
 * lower: up to the hard limit is always allowed; above it only with
 * CAP_SYS_RESOURCE, through util-linux `prlimit`. Returns the limits after.
 */
export function raiseNofile(wanted: number, limits: HostLimits): HostLimits {
  if (wanted <= limits.nofileSoft) return limits;
  const target = Math.min(wanted, limits.nrOpen ?? wanted);
  const hard = Math.max(target, limits.nofileHard);
  if (target > limits.nofileHard && !limits.mayRaiseHard) return limits;
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${hard}`], { stdio: 'ignore' });
  } catch {
    return limits;
  }
  return readHostLimits();
}

/** `--source-ips auto`: one loopback address per 2,500 connections from 127.0.0.2 when every target is on loopback. */
export function autoSourceIps(connections: number, targetsOnLoopback: boolean): string[] {
  if (!targetsOnLoopback) return [];
  const count = Math.min(250, Math.max(1, Math.ceil(connections / SOURCE_CONNECTIONS_TARGET)));
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
}

/**
 * Connections `auto` puts on one source address, a tenth of the default
 * 28,232-port range: the kernel searches for a free port at each bind, and
 * the search slows as the range fills. Measured here: 18,000 connections
 * from 2 addresses (9,000 each) opened in 9.9 s, from 8 in 3.8 s (the
 * connect rate's own bound, 5,000/s).
 */
const SOURCE_CONNECTIONS_TARGET = 2_500;

/** Parses `--source-ips`: `auto`, a list `127.0.0.2,127.0.0.3`, or a range `127.0.0.2-127.0.0.9`. */
export function parseSourceIps(text: string, connections: number, targetsOnLoopback: boolean): string[] {
  if (text === 'auto') return autoSourceIps(connections, targetsOnLoopback);
  if (text === 'none' || text === '') return [];
  const range = /^(\d+\.\d+\.\d+\.)(\d+)-(?:\d+\.\d+\.\d+\.)?(\d+)$/.exec(text);
  if (range !== null) {
    const [, prefix = '', from = '0', to = '0'] = range;
    if (Number(to) < Number(from) || Number(to) > 255) throw new Error(`--source-ips range ${text} is not low-high within one /24`);
    return Array.from({ length: Number(to) - Number(from) + 1 }, (_, i) => `${prefix}${Number(from) + i}`);
  }
  const ips = text.split(',').map((s) => s.trim());
  for (const ip of ips) if (!/^[0-9a-fA-F:.]+$/.test(ip)) throw new Error(`--source-ips: ${JSON.stringify(ip)} is not an IP address`);
  return ips;
}
