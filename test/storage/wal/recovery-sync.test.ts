/**
 * Frames that recovery accepts from a crashed writer's last, unsynced flush
 * are made durable before the WAL counts them: otherwise a power loss after
 * later, acknowledged frames would leave a gap before those (decision 28's
 * note on recovery). A test cannot cut the power, so it records which files
 * the open fdatasyncs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { encodeFrame } from '../../../src/storage/wal/frame-v1.ts';
import { Wal } from '../../../src/storage/wal/wal.ts';
import { payloadFor, segmentFiles, tempDir } from './helpers.ts';

interface SyncProto {
  sync: () => Promise<void>;
  datasync: () => Promise<void>;
}

/** Runs `fn` while recording the file of every FileHandle `sync`/`datasync` (directory handles show as their path too). */
async function recordingSyncs<T>(anyFile: string, fn: (synced: string[]) => Promise<T>): Promise<T> {
  const probe = await fsp.open(anyFile, 'r');
  const proto = Object.getPrototypeOf(probe) as SyncProto;
  await probe.close();
  const files = new WeakMap<object, string>();
  const synced: string[] = [];
  const open = fsp.open;
  const { sync, datasync } = proto;
  fsp.open = (async (file: fs.PathLike, ...rest: unknown[]) => {
    const handle = await (open as (...a: unknown[]) => Promise<fsp.FileHandle>)(file, ...rest);
    files.set(handle, String(file));
    return handle;
  }) as typeof fsp.open;
  proto.sync = function (this: object) {
    synced.push(files.get(this) ?? '?');
    return sync.call(this);
  };
  proto.datasync = function (this: object) {
    synced.push(files.get(this) ?? '?');
    return datasync.call(this);
  };
  try {
    return await fn(synced);
  } finally {
    fsp.open = open;
    proto.sync = sync;
    proto.datasync = datasync;
  }
}

test('frames recovered from an unsynced last flush are fdatasynced before the open returns', async (t) => {
  const dir = path.join(tempDir(t), 'wal');
  const first = await Wal.open({ dir, diskFreeBytesMin: 0 });
  for (let lsn = 1n; lsn <= 10n; lsn++) await first.append(1, payloadFor(lsn));
  await first.close();
  const segment = path.join(dir, segmentFiles(dir)[0] as string);
  // What a SIGKILLed writer leaves: frames 11..20 written into the page cache, their fdatasync never run.
  const fd = fs.openSync(segment, 'a');
  for (let lsn = 11n; lsn <= 20n; lsn++) fs.writeSync(fd, encodeFrame(1, lsn, payloadFor(lsn)));
  fs.closeSync(fd);
  await recordingSyncs(segment, async (synced) => {
    const wal = await Wal.open({ dir, diskFreeBytesMin: 0 });
    t.after(() => wal.close());
    assert.equal(wal.lastLsn, 20n, 'the frames were whole: recovery keeps them');
    assert.equal(wal.recovery.tornTail, null);
    assert.ok(synced.includes(segment), `the recovered segment was fdatasynced: ${synced.map((p) => path.basename(p)).join(', ')}`);
  });
});
