/**
 * A growable set of record numbers (one bit each: 3.6M records take
 * 0.45 MB), for what was acknowledged, attempted and read back.
 */
export class BitSet {
  private bits = new Uint8Array(1024);
  private countValue = 0;

  /** Numbers in the set. */
  get count(): number {
    return this.countValue;
  }

  /** One past the highest number the set can hold without growing. */
  get capacity(): number {
    return this.bits.length * 8;
  }

  /** Adds `n`; true when it was not there yet. */
  add(n: number): boolean {
    const byte = n >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (n & 7);
    const b = this.bits[byte] as number;
    if ((b & mask) !== 0) return false;
    this.bits[byte] = b | mask;
    this.countValue++;
    return true;
  }

  /** Adds first … first + count − 1. */
  addRange(first: number, count: number): void {
    for (let n = first; n < first + count; n++) this.add(n);
  }

  /** True when `n` is in the set. */
  has(n: number): boolean {
    const byte = n >>> 3;
    return byte < this.bits.length && ((this.bits[byte] as number) & (1 << (n & 7))) !== 0;
  }
}
