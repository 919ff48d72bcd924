/**
 * fd-limit.ts: reading the open-file limit and CAP_SYS_RESOURCE, the
 * limit a connection cap needs, and the decision (fits, raise to N, or
 * refuse with what to do).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FDS_RESERVED } from '../../../src/config.ts';
import { connectionsFitting, decideFdLimit, fdLimitFor, fdsNeeded } from '../../../src/api/http/fd-limit.ts';
import { openFilesBudgetOf } from '../../../src/storage/engine/open-files-budget.ts';
import { hasSysResource, parseOpenFileLimits } from '../../../src/core/open-file-limits.ts';

const LIMITS = [
  'Limit                     Soft Limit           Hard Limit           Units     ',
  'Max processes             96367                96367                processes ',
  'Max open files            20000                524288               files     ',
  'Max locked memory         8388608              8388608              bytes     ',
].join('\n');

test('the open-file limits are read from /proc/<pid>/limits', () => {
  assert.deepEqual(parseOpenFileLimits(LIMITS), { soft: 20_000, hard: 524_288 });
  assert.deepEqual(parseOpenFileLimits('Max open files            unlimited            unlimited            files'), { soft: Infinity, hard: Infinity });
  assert.equal(parseOpenFileLimits('Max processes 10 10 processes'), undefined);
  assert.equal(parseOpenFileLimits('Max open files            lots                 lots                 files'), undefined);
  assert.equal(parseOpenFileLimits(undefined), undefined);
});

test('CAP_SYS_RESOURCE (bit 24) is read from CapEff, not from being root', () => {
  const status = (capEff: string): string => `Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;
  assert.equal(hasSysResource(status('000001ffffffffff')), true, 'full root');
  assert.equal(hasSysResource(status('000001fffeffffff')), false, 'root in a container without SYS_RESOURCE');
  assert.equal(hasSysResource(status('0000000001000000')), true, 'that capability alone');
  assert.equal(hasSysResource(status('0000000000000000')), false);
  assert.equal(hasSysResource('Name:\tnode\n'), false, 'no CapEff line');
});

test('the limit a cap needs: the connections, LevelDB’s half of the limit and the reserve', () => {
  assert.equal(fdsNeeded(100, 20_000), 100 + 10_000 + FDS_RESERVED);
  for (const connections of [1, 256, 8_976, 8_977, 49_000, 100_000, 1_000_000]) {
    const limit = fdLimitFor(connections);
    assert.ok(fdsNeeded(connections, limit) <= limit, `${connections} fit in ${limit}`);
    assert.ok(fdsNeeded(connections, limit - 1) > limit - 1, `${connections} do not fit in ${limit - 1}: the least limit`);
    assert.ok(connectionsFitting(limit) >= connections);
  }
  // Past 100,000 LevelDB's share stops growing at 50,000.
  assert.equal(fdLimitFor(100_000), 100_000 + 50_000 + FDS_RESERVED);
  assert.equal(openFilesBudgetOf(fdLimitFor(100_000)), 50_000);
  assert.equal(connectionsFitting(20_000), 20_000 - 10_000 - FDS_RESERVED);
  assert.equal(connectionsFitting(1_024), 0, 'a tiny limit holds none');
  // LMDB keeps no table files open: only the reserve comes off the limit.
  assert.equal(connectionsFitting(20_000, false), 20_000 - FDS_RESERVED);
  assert.equal(fdLimitFor(100_000, false), 100_000 + FDS_RESERVED);
});

test('fits: nothing to do; fits under the hard limit: raise the soft one; past it: raise both only with CAP_SYS_RESOURCE and within fs.nr_open', () => {
  const facts = (soft: number, hard: number, privileged: boolean, nrOpen = 1_048_576) => ({ limits: { soft, hard }, nrOpen, privileged });
  assert.deepEqual(decideFdLimit(8_976, facts(20_000, 20_000, false)), { kind: 'ok' });
  assert.deepEqual(decideFdLimit(8_977, facts(20_000, 524_288, false)), { kind: 'raise', soft: 20_001, hard: 524_288 });
  assert.deepEqual(decideFdLimit(100_000, facts(20_000, 20_000, true)), { kind: 'raise', soft: 151_024, hard: 151_024 });
  assert.deepEqual(decideFdLimit(18_000, facts(20_000, 20_000, false), false), { kind: 'ok' }, 'with LMDB 18,000 fit under 20,000');

  const unprivileged = decideFdLimit(100_000, facts(20_000, 20_000, false));
  assert.equal(unprivileged.kind, 'refuse');
  assert.ok(unprivileged.kind === 'refuse');
  assert.match(unprivileged.message, /--connections-max 100000 needs an open-file limit \(RLIMIT_NOFILE\) of 151024/);
  assert.match(unprivileged.message, /this process has 20000 \(hard 20000\)/);
  assert.match(unprivileged.message, /no CAP_SYS_RESOURCE/);
  assert.match(unprivileged.message, /ulimit -n 151024/);
  assert.match(unprivileged.message, /prlimit --pid <pid> --nofile=151024:151024/);
  assert.match(unprivileged.message, /LimitNOFILE=151024/);
  assert.match(unprivileged.message, /the present limit holds 8976\)/);
  assert.doesNotMatch(unprivileged.message, /nr_open/);

  const pastNrOpen = decideFdLimit(5_000_000, facts(20_000, 20_000, true));
  assert.ok(pastNrOpen.kind === 'refuse');
  assert.match(pastNrOpen.message, /fs\.nr_open = 1048576 \(sysctl -w fs\.nr_open=5051024\)/);
  assert.doesNotMatch(pastNrOpen.message, /CAP_SYS_RESOURCE/, 'the privilege is there; the kernel is the limit');
});
