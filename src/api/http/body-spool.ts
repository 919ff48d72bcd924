/**
 * Writes a large request body to a file instead of memory (an import's
 * Parquet or CSV body: Parquet's footer comes last, so the whole body is
 * needed before the first row can be read). The byte limit holds before
 * and after gzip, while reading; the file is removed by the caller.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { SluiceError, errnoCode } from '../../core/errors.ts';
import { continueIfExpected } from './expect-continue.ts';

/** Counts bytes through and fails once they pass `max`. */
class ByteLimit extends Transform {
  bytes = 0;
  private readonly max: number;
  private readonly where: string;
  constructor(max: number, where: string) {
    super();
    this.max = max;
    this.where = where;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) return done(new SluiceError('PAYLOAD_TOO_LARGE', `the body is larger than ${this.max} bytes${this.where}`));
    done(null, chunk);
  }
}

/** A spool directory whose leftovers (from a crash) are removed at the first use in a process. */
export class BodySpool {
  private readonly dir: string;
  private ready: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Writes the body of `req` to a new file and returns its path and size. */
  async write(req: IncomingMessage, bytesMax: number, suffix: string): Promise<{ path: string; bytes: number }> {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
      throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported (use gzip or none)`);
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > bytesMax) throw new SluiceError('PAYLOAD_TOO_LARGE', `the body is larger than ${bytesMax} bytes`);
    this.ready ??= this.prepare().catch((err: unknown) => {
      // Tried again at the next body: a failure kept here would fail every import until a restart.
      this.ready = undefined;
      throw err;
    });
    await this.ready;
    const file = path.join(this.dir, `${randomUUID()}${suffix}`);
    continueIfExpected(req);
    const raw = new ByteLimit(bytesMax, '');
    const text = new ByteLimit(bytesMax, ' after decompression');
    try {
      const out = createWriteStream(file, { flags: 'wx' });
      if (encoding === 'identity') await pipeline(req, raw, out);
      else await pipeline(req, raw, createGunzip(), text, out);
    } catch (err) {
      await rm(file, { force: true });
      req.resume();
      if (err instanceof SluiceError) throw err;
      const code = errnoCode(err);
      if (code === 'ENOSPC') throw new SluiceError('DISK_FULL', 'no space left to hold the import body');
      if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw new SluiceError('BAD_REQUEST', `the gzip body is corrupt: ${(err as Error).message}`);
      throw new SluiceError('BAD_REQUEST', `reading the body failed: ${(err as Error).message}`);
    }
    const bytes = encoding === 'identity' ? raw.bytes : text.bytes;
    if (Number.isFinite(declared) && raw.bytes !== declared) {
      await rm(file, { force: true });
      throw new SluiceError('BAD_REQUEST', `body has ${raw.bytes} bytes, Content-Length said ${declared}`);
    }
    return { path: file, bytes };
  }

  /** Once per process, before the first body: no import of this process has a file there yet. */
  private async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Files left by a process that died mid-import.
    for (const name of await readdir(this.dir)) await rm(path.join(this.dir, name), { force: true });
  }
}
