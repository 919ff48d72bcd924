import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFilesBudget, processOpenFilesBudget } from '../../../src/storage/engine/open-files-budget.ts';

const limits = (soft: string, hard: string): string =>
  ['Limit                     Soft Limit           Hard Limit           Units     ', 'Max processes             95000                95000                processes ', `Max open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     `, 'Max locked memory         8388608              8388608              bytes     '].join('\n');

test('LevelDB keeps half the soft open-file limit open, within 1,000 and 50,000', () => {
  assert.equal(openFilesBudget(limits('20000', '20000')), 10_000);
  assert.equal(openFilesBudget(limits('1024', '524288')), 1_000, 'never below LevelDB’s own default');
  assert.equal(openFilesBudget(limits('1048576', '1048576')), 50_000);
  assert.equal(openFilesBudget(limits('unlimited', 'unlimited')), 50_000);
  assert.equal(openFilesBudget(limits('lots', 'lots')), 1_000, 'not a number: the default');
  assert.equal(openFilesBudget(undefined), 1_000, 'no /proc: the default');
  assert.equal(openFilesBudget('garbage'), 1_000);
  const own = processOpenFilesBudget();
  assert.ok(own >= 1_000 && own <= 50_000, `this process: ${own}`);
});
