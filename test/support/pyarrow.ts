/**
 * A Python with pyarrow, so tests can read sluice's Parquet files with a
 * reader sluice does not write them with (the Apache Arrow C++ one).
 *
 * Brought by the test set-up itself, once: a venv in
 * `${SLUICE_CACHE_DIR:-~/.cache/sluice}/pyvenv` with pyarrow from PyPI.
 * Debian's python3 needs `python3-venv` for that; it is installed with
 * apt-get when missing, as scripts/test.js does for etcd. Test files run
 * in parallel processes, so the venv is built under a private name and
 * renamed into place; a venv works from its new path when it is started as
 * `bin/python -m …` (no script shebangs involved). `SLUICE_PYTHON` names an
 * interpreter that already has pyarrow and skips all of it.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/** Any recent pyarrow (the test accepts both readings of JSON columns: string, or arrow.json from newer releases). */
const PYARROW_REQUIREMENT = 'pyarrow>=15';
/** A cold pip install downloads a ~40 MB wheel. */
const INSTALL_TIMEOUT_MS = 10 * 60_000;

function run(cmd: string, args: readonly string[], timeoutMs = 120_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
}

function output(res: SpawnSyncReturns<string>): string {
  return `${res.error?.message ?? ''}\n${res.stdout ?? ''}\n${res.stderr ?? ''}`.trim().slice(-2000);
}

function hasPyarrow(python: string): boolean {
  return existsSync(python) && run(python, ['-c', 'import pyarrow.parquet']).status === 0;
}

function aptInstall(packages: readonly string[]): void {
  process.stderr.write(`pyarrow set-up: apt-get install -y ${packages.join(' ')}\n`);
  const install = (): SpawnSyncReturns<string> => run('apt-get', ['install', '-y', '-q', ...packages], INSTALL_TIMEOUT_MS);
  let res = install();
  if (res.status !== 0) {
    run('apt-get', ['update', '-q'], INSTALL_TIMEOUT_MS);
    res = install();
  }
  if (res.status !== 0) {
    throw new Error(`the Parquet tests need Python 3 with venv; installing ${packages.join(' ')} failed (run it as root, or set SLUICE_PYTHON to a python with pyarrow):\n${output(res)}`);
  }
}

/** Creates a venv at `dir` with the first python3 that can, installing Debian's python3-venv if none can. */
function createVenv(dir: string): void {
  let res = run('python3', ['-m', 'venv', dir]);
  if (res.status === 0) return;
  rmSync(dir, { recursive: true, force: true });
  // No python3 at all, or Debian's without ensurepip (python3-venv).
  aptInstall(['python3', 'python3-venv']);
  res = run('/usr/bin/python3', ['-m', 'venv', dir]);
  if (res.status !== 0) throw new Error(`python3 -m venv ${dir} failed:\n${output(res)}`);
}

/** The path of a python that imports pyarrow; builds the cached venv on first use. Blocks while it does (up to minutes). */
export function ensurePyarrow(): string {
  const given = process.env['SLUICE_PYTHON'];
  if (given !== undefined && given !== '') {
    if (!hasPyarrow(given)) throw new Error(`SLUICE_PYTHON=${given} cannot import pyarrow`);
    return given;
  }
  const cacheDir = process.env['SLUICE_CACHE_DIR'] || path.join(homedir(), '.cache', 'sluice');
  const venv = path.join(cacheDir, 'pyvenv');
  const python = path.join(venv, 'bin', 'python');
  if (hasPyarrow(python)) return python;

  process.stderr.write(`pyarrow set-up: creating ${venv} with ${PYARROW_REQUIREMENT} from PyPI (once)\n`);
  mkdirSync(cacheDir, { recursive: true });
  const building = `${venv}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  try {
    createVenv(building);
    const pip = run(path.join(building, 'bin', 'python'), ['-m', 'pip', 'install', '-q', PYARROW_REQUIREMENT], INSTALL_TIMEOUT_MS);
    if (pip.status !== 0) throw new Error(`pip install ${PYARROW_REQUIREMENT} failed (PyPI unreachable? set SLUICE_PYTHON to a python with pyarrow):\n${output(pip)}`);
    // Another test process may have finished first; a working venv stays.
    if (!hasPyarrow(python)) {
      rmSync(venv, { recursive: true, force: true });
      renameSync(building, venv);
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  if (!hasPyarrow(python)) throw new Error(`${python} still cannot import pyarrow after the set-up`);
  return python;
}
