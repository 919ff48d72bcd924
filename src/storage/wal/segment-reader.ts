/**
 * Sequential frame reader over one segment file, shared by recovery and
 * replay. It reads large chunks (one syscall per `chunkBytes`, not one per
 * frame) and decodes frames out of them.
 *
 * Every refill allocates a fresh chunk instead of reusing one, so the
 * payload views it hands out stay valid after later reads; memory is held
 * only as long as the caller holds those views.
 */
import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import { decodeFrame } from './frame-v1.ts';
import type { FrameDecode } from './frame-v1.ts';

export class SegmentReader {
  readonly #handle: FileHandle;
  readonly #chunkBytes: number;
  readonly #frameBytesMax: number;
  #buf: Buffer = Buffer.alloc(0);
  /** File offset of `#buf[0]`. */
  #bufFileOffset: number;
  #pos = 0;
  #end = 0;
  #eof = false;
  readonly #ownsHandle: boolean;

  private constructor(handle: FileHandle, ownsHandle: boolean, startOffset: number, chunkBytes: number, frameBytesMax: number) {
    this.#handle = handle;
    this.#ownsHandle = ownsHandle;
    this.#bufFileOffset = startOffset;
    this.#chunkBytes = chunkBytes;
    this.#frameBytesMax = frameBytesMax;
  }

  /** Opens `file` read-only, positioned at `startOffset`. */
  static async open(file: string, startOffset: number, chunkBytes: number, frameBytesMax: number): Promise<SegmentReader> {
    const handle = await fs.open(file, 'r');
    return new SegmentReader(handle, true, startOffset, chunkBytes, frameBytesMax);
  }

  /** Reads through a handle the caller keeps open and closes. */
  static onHandle(handle: FileHandle, startOffset: number, chunkBytes: number, frameBytesMax: number): SegmentReader {
    return new SegmentReader(handle, false, startOffset, chunkBytes, frameBytesMax);
  }

  /** File offset of the next frame to decode. */
  get offset(): number {
    return this.#bufFileOffset + this.#pos;
  }

  /** True when the file has no bytes beyond those buffered and all were consumed. */
  get atEnd(): boolean {
    return this.#eof && this.#pos === this.#end;
  }

  /** Buffered bytes not consumed yet (those of a frame reported `short` at end of file). */
  get bufferedBytes(): number {
    return this.#end - this.#pos;
  }

  /**
   * Decodes the frame at the current offset from buffered bytes only.
   * `short` means: call `fill(needBytes)`, and if it returns false, the file
   * ends inside this frame.
   */
  decode(): FrameDecode {
    return decodeFrame(this.#buf, this.#pos, this.#end, this.#frameBytesMax);
  }

  /** A view of up to `bytes` buffered bytes at the current offset (call `fill` first). */
  peek(bytes: number): Buffer {
    return this.#buf.subarray(this.#pos, Math.min(this.#end, this.#pos + bytes));
  }

  /** Moves past a frame returned by `decode` (or bytes seen with `peek`). */
  advance(frameBytes: number): void {
    this.#pos += frameBytes;
  }

  /**
   * Buffers at least `needBytes` from the current offset, reading the file
   * further. Returns false when the file ended before that many bytes.
   */
  async fill(needBytes: number): Promise<boolean> {
    if (this.#end - this.#pos >= needBytes) return true;
    if (this.#eof) return false;
    const next = Buffer.allocUnsafe(Math.max(this.#chunkBytes, needBytes));
    const kept = this.#buf.copy(next, 0, this.#pos, this.#end);
    this.#bufFileOffset += this.#pos;
    this.#buf = next;
    this.#pos = 0;
    this.#end = kept;
    while (this.#end < next.length) {
      const { bytesRead } = await this.#handle.read(next, this.#end, next.length - this.#end, this.#bufFileOffset + this.#end);
      if (bytesRead === 0) {
        this.#eof = true;
        break;
      }
      this.#end += bytesRead;
    }
    return this.#end - this.#pos >= needBytes;
  }

  /** Closes the file if this reader opened it. */
  async close(): Promise<void> {
    if (this.#ownsHandle) await this.#handle.close();
  }
}
