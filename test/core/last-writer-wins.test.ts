import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareStoredRecords, compareWrites, type StoredWrite } from '../../src/core/last-writer-wins.ts';

const base: StoredWrite = { version: 5n, id: 10n, value: Buffer.from([0, 0, 0, 0, 0, 0, 0, 5, 1]), recordKey: Buffer.from([0x52, 1, 10]) };

test('last writer wins: version, then id, then stored value bytes, then record key bytes; the same write ties with itself', () => {
  const cases: [string, Partial<StoredWrite>, number][] = [
    ['higher version', { version: 6n, id: 1n }, 1],
    ['lower version', { version: 4n, id: 99n }, -1],
    ['same version, higher id', { id: 11n, value: undefined }, 1],
    ['same version, lower id', { id: 9n, value: undefined }, -1],
    ['same id, greater value', { value: Buffer.from([0, 0, 0, 0, 0, 0, 0, 5, 2]) }, 1],
    ['same id, smaller value', { value: Buffer.from([0, 0, 0, 0, 0, 0, 0, 5, 0]) }, -1],
    ['same value, greater record key', { recordKey: Buffer.from([0x52, 1, 11]) }, 1],
    ['the same write', {}, 0],
  ];
  for (const [name, change, sign] of cases) {
    const other = { ...base, ...change };
    assert.equal(Math.sign(compareWrites(other, base)), sign, name);
    assert.equal(Math.sign(compareWrites(base, other)), sign === 0 ? 0 : -sign, `${name}, swapped`);
  }
  // A caller that kept a value back where it is needed is a programmer error.
  assert.throws(() => compareWrites({ ...base, value: undefined }, base), assert.AssertionError);
});

test('stored records compare by the version heading the value and the id ending the record key', () => {
  const rec = (id: number, version: number, last: number): [Buffer, Buffer] => {
    const key = Buffer.alloc(15);
    key.writeBigUInt64BE(BigInt(id), 7);
    const value = Buffer.alloc(21);
    value.writeBigUInt64BE(BigInt(version), 0);
    value[20] = last;
    return [key, value];
  };
  assert.ok(compareStoredRecords(rec(1, 2, 0), rec(9, 1, 9)) > 0, 'version first');
  assert.ok(compareStoredRecords(rec(2, 1, 0), rec(1, 1, 9)) > 0, 'then id');
  assert.ok(compareStoredRecords(rec(1, 1, 9), rec(1, 1, 0)) > 0, 'then the value');
  assert.equal(compareStoredRecords(rec(1, 1, 3), rec(1, 1, 3)), 0);
});
