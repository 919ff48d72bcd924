import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyBytes } from '../../src/core/copy-bytes.ts';

test('copyBytes copies what Buffer#copy copies, short runs by loop and long ones natively', () => {
  const src = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 255));
  for (const n of [0, 1, 7, 8, 31, 32, 33, 64, 200]) {
    for (const from of [0, 3, 99]) {
      const want = Buffer.alloc(260, 0xee);
      const got = Buffer.alloc(260, 0xee);
      src.copy(want, 5, from, from + n);
      assert.equal(copyBytes(src, from, from + n, got, 5), n);
      assert.ok(got.equals(want), `n ${n} from ${from}`);
    }
  }
});
