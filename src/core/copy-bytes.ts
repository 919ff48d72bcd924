/**
 * Copies a few bytes between buffers in JS. `Buffer#copy` crosses into C++
 * for every call: ~38 ns per call against ~7 ns for a loop over a 10-byte
 * key here (3 copies per record key: 115 → 20 ns), and the index builds
 * several such keys per record on the main thread. Long runs still go to
 * the native copy.
 */

/** Past this many bytes the native copy is the faster one. */
const LOOP_BYTES_MAX = 48;

/** Copies `src[from, to)` to `dst` at `at`; returns the bytes copied. */
export function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): number {
  const n = to - from;
  if (n > LOOP_BYTES_MAX) {
    dst.set(src.subarray(from, to), at);
    return n;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i] as number;
  return n;
}
