/**
 * A table's limits: checked with names, units and ranges; patched as a
 * JSON merge patch (null removes); defaults filled in only when applied,
 * so a later rate change moves a default burst with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TABLE_LIMIT_BOUNDS } from '../../../src/config.ts';
import { DefinitionProblems } from '../../../src/core/schema/parse-field-specs.ts';
import { describeLimits, effectiveLimits, parseTableLimits, patchTableLimits } from '../../../src/core/schema/table-limits.ts';
import { isSluiceError } from '../../../src/core/errors.ts';

function parse(raw: unknown): { limits: object; problems: string[] } {
  const problems = new DefinitionProblems();
  const limits = parseTableLimits(raw, '/limits', TABLE_LIMIT_BOUNDS, problems);
  return { limits, problems: problems.list.map((p) => `${p.path} ${p.message}`) };
}

test('valid limits are kept as given', () => {
  const raw = { recordsPerSecond: 100.5, recordsBurst: 500, bytesPerSecond: 1_048_576, bytesBurst: 4_194_304, eventTimeAheadMsMax: 60_000 };
  assert.deepEqual(parse(raw), { limits: raw, problems: [] });
  assert.deepEqual(parse(undefined), { limits: {}, problems: [] });
  assert.deepEqual(parse({ eventTimeAheadMsMax: 0 }).problems, [], 'a bound of 0 refuses any time ahead of the clock');
});

test('every problem is reported with its path, the unit and the range', () => {
  const { problems } = parse({ recordsPerSecond: 0, recordsBurst: 1.5, bytesPerSecond: '1MB', bytesBurst: 10, eventTimeAheadMsMax: -1, ratePerMinute: 3 });
  assert.deepEqual(
    problems.map((p) => p.split(' ')[0]),
    ['/limits/recordsPerSecond', '/limits/recordsBurst', '/limits/bytesPerSecond', '/limits/bytesBurst', '/limits/eventTimeAheadMsMax', '/limits/ratePerMinute'],
  );
  assert.match(problems[0] ?? '', /from 0\.001 to 1000000000 \(records per second\), got 0/);
  assert.match(problems[1] ?? '', /an integer/);
  assert.match(problems[3] ?? '', /\(bytes\)/);
  assert.match(problems[5] ?? '', /unknown limit "ratePerMinute"; limits are recordsPerSecond/);
  assert.deepEqual(parse([]).problems, ['/limits limits is an object with any of recordsPerSecond, recordsBurst, bytesPerSecond, bytesBurst, eventTimeAheadMsMax']);
});

test('a burst without its rate is refused: alone it would limit nothing', () => {
  assert.deepEqual(parse({ recordsBurst: 10 }).problems, ['/limits/recordsBurst recordsBurst needs recordsPerSecond']);
  assert.deepEqual(parse({ bytesBurst: 4096 }).problems, ['/limits/bytesBurst bytesBurst needs bytesPerSecond']);
});

test('patch: a value sets, null removes, the rest stays; the result is checked whole', () => {
  const current = { recordsPerSecond: 10, recordsBurst: 20, eventTimeAheadMsMax: 1000 };
  assert.deepEqual(patchTableLimits(current, { recordsPerSecond: 50 }, TABLE_LIMIT_BOUNDS), { recordsPerSecond: 50, recordsBurst: 20, eventTimeAheadMsMax: 1000 });
  assert.deepEqual(patchTableLimits(current, { eventTimeAheadMsMax: null, bytesPerSecond: 2048 }, TABLE_LIMIT_BOUNDS), { recordsPerSecond: 10, recordsBurst: 20, bytesPerSecond: 2048 });
  assert.deepEqual(patchTableLimits(current, { recordsPerSecond: null, recordsBurst: null }, TABLE_LIMIT_BOUNDS), { eventTimeAheadMsMax: 1000 });
  assert.throws(
    () => patchTableLimits(current, { recordsPerSecond: null }, TABLE_LIMIT_BOUNDS),
    (err) => isSluiceError(err, 'INVALID_TABLE_DEFINITION') && /recordsBurst needs recordsPerSecond/.test(err.message),
    'removing a rate leaves its burst alone: refused',
  );
  assert.throws(() => patchTableLimits(current, 5, TABLE_LIMIT_BOUNDS), (err) => isSluiceError(err, 'INVALID_TABLE_DEFINITION'));
  assert.throws(() => patchTableLimits(current, { recordsPerSecond: -1 }, TABLE_LIMIT_BOUNDS), (err) => isSluiceError(err, 'INVALID_TABLE_DEFINITION') && err.details[0]?.path === '/limits/recordsPerSecond');
});

test('effective limits: a burst defaults to one second at the rate (at least 1), the bound to the node default', () => {
  assert.deepEqual(effectiveLimits(undefined, 3_600_000), { eventTimeAheadMsMax: 3_600_000 });
  assert.deepEqual(effectiveLimits({ recordsPerSecond: 0.5, bytesPerSecond: 1000.2, bytesBurst: 5000 }, 7), {
    records: { perSecond: 0.5, burst: 1 },
    bytes: { perSecond: 1000.2, burst: 5000 },
    eventTimeAheadMsMax: 7,
  });
  assert.deepEqual(describeLimits({ recordsPerSecond: 250, eventTimeAheadMsMax: 0 }, 3_600_000), { recordsPerSecond: 250, recordsBurst: 250, eventTimeAheadMsMax: 0 });
});
