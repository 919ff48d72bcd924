/**
 * What a bench needs from Debian and a fresh machine lacks (etcd, PostgreSQL,
 * wrk), installed the way `npm test` installs what the tests need: apt-get,
 * once more after `apt-get update` when the first try fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ETCD_BIN } from '../../test/process/etcd.ts';

/** Installs `pkg` (no recommends); true when apt-get succeeded. */
export function aptInstall(pkg: string): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', pkg], { stdio: 'inherit', env });
  if (install().status === 0) return true;
  spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  return install().status === 0;
}

/** etcd for the cluster benches (Debian's etcd-server); throws with what to do when it cannot be had. */
export function ensureEtcd(): void {
  if (existsSync(ETCD_BIN)) return;
  console.error(`$ apt-get install -y etcd-server   (${ETCD_BIN} is missing)`);
  if (!aptInstall('etcd-server') || !existsSync(ETCD_BIN)) {
    throw new Error('the cluster benches need etcd and it could not be installed: run `apt-get install etcd-server` as root, or set SLUICE_ETCD_BIN');
  }
}
