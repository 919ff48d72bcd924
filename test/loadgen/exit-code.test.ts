/** The verdict of a run: a failed verification exits 1 whatever else, an invalid run 2, a failed threshold 99. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitCodeOf } from '../../src/loadgen/bench-result.ts';

test('exit codes, the worst news first', () => {
  assert.equal(exitCodeOf(undefined, false, false), 0, 'no verification asked, all fine');
  assert.equal(exitCodeOf(true, false, false), 0);
  assert.equal(exitCodeOf(false, false, false), 1);
  assert.equal(exitCodeOf(false, true, true), 1, 'lost records outrank everything');
  assert.equal(exitCodeOf(true, true, true), 2, 'an invalid run outranks its thresholds');
  assert.equal(exitCodeOf(undefined, false, true), 99);
});
