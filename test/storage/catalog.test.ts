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

test('limits: set durably beside the schema versions (no new version); a late copy with older limits never puts them back', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-catalog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const catalog = await Catalog.open(dir, [EVENTS_TABLE], 1_000);
  const first = await catalog.setLimits('events', () => ({ recordsPerSecond: 10 }));
  assert.deepEqual(first.limits, { recordsPerSecond: 10 });
  assert.equal(first.limitsRevision, 1);
  assert.equal(first.versions.length, 1, 'no schema version');
  assert.equal(await catalog.setLimits('events', (current) => current), first, 'unchanged limits: no write, no revision');
  const second = await catalog.setLimits('events', (current) => ({ ...current, eventTimeAheadMsMax: 5 }));
  assert.equal(second.limitsRevision, 2);

  // The watch delivering the first change after the second was installed: ignored.
  await catalog.install(JSON.parse(JSON.stringify(first)));
  assert.deepEqual(catalog.require('events').limits, { recordsPerSecond: 10, eventTimeAheadMsMax: 5 });
  // A newer copy from the cluster (limits removed): taken.
  const { limits: _gone, ...noLimits } = second;
  await catalog.install({ ...noLimits, limitsRevision: 3 });
  assert.equal(catalog.require('events').limits, undefined);

  const reopened = await Catalog.open(dir, [EVENTS_TABLE], 2_000);
  assert.equal(reopened.require('events').limits, undefined);
  assert.equal(reopened.require('events').limitsRevision, 3, 'kept on disk');
  await reopened.setLimits('events', () => ({ bytesPerSecond: 2048 }));
  const again = await Catalog.open(dir, [EVENTS_TABLE], 3_000);
  assert.deepEqual(again.require('events').limits, { bytesPerSecond: 2048 });
  assert.equal(again.require('events').limitsRevision, 4);
});
