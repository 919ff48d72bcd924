/**
 * Copies a few bytes between buffers in JS. `Buffer#copy` and
 * `TypedArray#set` of a subarray each cost ~38 ns per call here whatever
 * the length; a loop costs ~13 ns for 8 bytes, 18 for 16, 33 for 32 and 48
 * for 48 (in process, 2M calls each). A record key takes three copies
 * (its shard key, time and id: 115 → 20 ns), and the index builds such
 * keys per record on the main thread. Longer runs go to the native copy.
 */

/** Past this many bytes one native call is cheaper than the loop (the crossover measured above, ~36). */
const LOOP_BYTES_MAX = 32;

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
