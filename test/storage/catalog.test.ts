import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EVENTS_TABLE } from '../../src/core/schema/parse-table-def.ts';
import { Catalog, currentDef } from '../../src/storage/catalog.ts';

test('install: the cluster copy of a built-in replaces a local one with the same history length, durably; a shorter history changes nothing', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-catalog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const local = await Catalog.open(dir, [EVENTS_TABLE], 1_000);
  const mine = local.require('events');
  assert.equal(currentDef(mine).replicationFactor, 1);

  const clusters = { ...mine, versions: [{ ...currentDef(mine), replicationFactor: 3 }] };
  await local.install(JSON.parse(JSON.stringify(clusters)));
  assert.equal(currentDef(local.require('events')).replicationFactor, 3, 'the cluster decides');
  // The same history again (as the watch delivers it) is a no-op; so is an older one.
  await local.install(JSON.parse(JSON.stringify(clusters)));
  await local.install({ ...clusters, versions: [] });
  assert.equal(currentDef(local.require('events')).replicationFactor, 3);

  const reopened = await Catalog.open(dir, [EVENTS_TABLE], 2_000);
  assert.equal(currentDef(reopened.require('events')).replicationFactor, 3, 'kept on disk');
  assert.equal(reopened.require('events').id, mine.id);
});
