/**
 * Cuts a byte stream of CSV or NDJSON into chunks that end on a record
 * boundary, so that each chunk can be parsed on its own (in a worker)
 * while the stream is still being read. A boundary is a line feed outside
 * quotes: for CSV, RFC 4180 quotes pair up (`""` is two quotes), so the
 * parity of the quotes seen so far says whether a line feed ends a
 * record; NDJSON has no multi-line records (`quotes: false`).
 *
 * A chunk ends at the first boundary at least `chunkBytes` after its
 * start, so chunks are about `chunkBytes` whatever the read size (a
 * record longer than that makes a longer chunk). Memory: the bytes since
 * the last cut plus one read buffer.
 */

const QUOTE = 34;
const LF = 10;

/** Options of a splitter. */
export interface SplitterOptions {
  /** A chunk is cut at the first boundary this many bytes past its start. */
  readonly chunkBytes: number;
  /** CSV: a line feed inside quotes is data. */
  readonly quotes: boolean;
  /**
   * Each chunk gets its own ArrayBuffer, so it can be transferred to a
   * worker; otherwise a chunk may be a view into the read buffers (less
   * garbage when the chunk stays on this thread). @default true
   */
  readonly ownMemory?: boolean;
}

/** A chunk of whole records and where it starts in the stream. */
export interface SplitChunk {
  readonly bytes: Buffer;
  /** Stream offset of `bytes[0]`. */
  readonly offset: number;
}

/** Splits pushed buffers into chunks of whole records. */
export class RecordSplitter {
  private readonly options: SplitterOptions;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Stream offset of the first pending byte. */
  private offset: number;
  /** Cut positions (within pending) found since the last cut. */
  private cuts: number[] = [];
  private inQuote = false;

  constructor(options: SplitterOptions, offset = 0) {
    this.options = options;
    this.offset = offset;
  }

  /** Takes the next buffer; returns the chunks it completes (often none). */
  push(buf: Buffer): SplitChunk[] {
    const base = this.pendingBytes;
    if (this.options.quotes) this.scanQuoted(buf, base);
    else this.scanSegment(buf, base, 0, buf.length);
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.cuts.length === 0) return [];
    return this.cut(this.cuts);
  }

  /** The rest (after the last cut), or undefined when nothing is left. */
  end(): SplitChunk | undefined {
    if (this.pendingBytes === 0) return undefined;
    return this.cut([this.pendingBytes])[0];
  }

  /** Records cuts among the line feeds of buf[from, to), all of which are boundaries. */
  private scanSegment(buf: Buffer, base: number, from: number, to: number): void {
    let p = from;
    for (;;) {
      const lastCut = this.cuts.at(-1) ?? 0;
      // A line feed at index i is a boundary at base + i + 1; the cut must be ≥ lastCut + chunkBytes.
      const search = Math.max(p, lastCut + this.options.chunkBytes - base - 1);
      if (search >= to) return;
      const lf = buf.indexOf(LF, search);
      if (lf === -1 || lf >= to) return;
      this.cuts.push(base + lf + 1);
      p = lf + 1;
    }
  }

  /** Walks quotes and line feeds, handing the quote-free stretches to scanSegment. */
  private scanQuoted(buf: Buffer, base: number): void {
    let p = 0;
    while (p < buf.length) {
      const q = buf.indexOf(QUOTE, p);
      const stop = q === -1 ? buf.length : q;
      if (!this.inQuote) this.scanSegment(buf, base, p, stop);
      if (q === -1) return;
      this.inQuote = !this.inQuote;
      p = q + 1;
    }
  }

  private cut(at: readonly number[]): SplitChunk[] {
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    const chunks: SplitChunk[] = [];
    let start = 0;
    for (const end of at) {
      let bytes: Buffer;
      if (this.options.ownMemory === false) {
        bytes = all.subarray(start, end);
      } else {
        // A copy outside Node's shared buffer pool: the chunk owns its ArrayBuffer.
        bytes = Buffer.allocUnsafeSlow(end - start);
        all.copy(bytes, 0, start, end);
      }
      chunks.push({ bytes, offset: this.offset + start });
      start = end;
    }
    const rest = all.subarray(start);
    this.offset += start;
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    this.cuts = [];
    return chunks;
  }
}
