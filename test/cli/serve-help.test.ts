/**
 * `sluice serve --help` and docs/operations.md, the operator's manual,
 * name the same flags: every flag the command takes is documented there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { serveCommand } from '../../src/cli/serve.ts';

const MANUAL = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

test('every flag of sluice serve --help is in docs/operations.md', () => {
  const flags = serveCommand()
    .options.filter((o) => !o.hidden && o.long !== undefined)
    .map((o) => o.long as string);
  assert.ok(flags.length > 90, `${flags.length} flags`);
  const missing = flags.filter((flag) => !new RegExp(`(?<![a-z-])${flag}(?![a-z-])`).test(MANUAL));
  assert.deepEqual(missing, [], 'flags of sluice serve that docs/operations.md does not name');
});
