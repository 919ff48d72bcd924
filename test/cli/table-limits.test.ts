/**
 * `sluice table limits`: the flags become a JSON merge patch of the
 * table's limits (a number sets, `none` removes); anything else is refused
 * before a request is made. The process test runs the command against a node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitsPatch } from '../../src/cli/table-limits.ts';
import { CliError } from '../../src/cli/cli-error.ts';

test('flags become a merge patch: numbers set, none removes, absent flags are left alone', () => {
  assert.deepEqual(limitsPatch({}), {});
  assert.deepEqual(limitsPatch({ recordsPerSecond: '2.5', recordsBurst: '10', bytesPerSecond: 'none', eventTimeAheadMaxMs: '0', url: 'http://x' }), {
    recordsPerSecond: 2.5,
    recordsBurst: 10,
    bytesPerSecond: null,
    eventTimeAheadMsMax: 0,
  });
});

test('a value that is not a number or none is a usage error naming the flag', () => {
  for (const [attr, flag] of [['recordsBurst', '--records-burst'], ['eventTimeAheadMaxMs', '--event-time-ahead-max-ms']] as const) {
    for (const bad of ['lots', '', ' ', 'Infinity', '1e999']) {
      assert.throws(
        () => limitsPatch({ [attr]: bad }),
        (err) => err instanceof CliError && err.message.startsWith(`${flag} must be a number or "none"`),
        `${attr}=${JSON.stringify(bad)}`,
      );
    }
  }
});
