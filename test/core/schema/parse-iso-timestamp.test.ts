import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoTimestampProblem, parseIsoTimestamp } from '../../../src/core/schema/parse-iso-timestamp.ts';

const MAY1_NOON = Date.UTC(2024, 4, 1, 12, 0, 0);

test('accepted ISO-8601 forms', () => {
  const cases: [string, number][] = [
    ['2024-05-01T12:00:00Z', MAY1_NOON],
    ['2024-05-01t12:00:00z', MAY1_NOON],
    ['2024-05-01 12:00:00Z', MAY1_NOON],
    ['2024-05-01T12:00Z', MAY1_NOON],
    ['2024-05-01T12:00:00.1Z', MAY1_NOON + 100],
    ['2024-05-01T12:00:00.12Z', MAY1_NOON + 120],
    ['2024-05-01T12:00:00.123Z', MAY1_NOON + 123],
    ['2024-05-01T12:00:00,5Z', MAY1_NOON + 500],
    ['2024-05-01T12:00:00.123999999Z', MAY1_NOON + 123], // truncated, never rounded up
    ['2024-05-01T14:00:00+02:00', MAY1_NOON],
    ['2024-05-01T14:00:00+0200', MAY1_NOON],
    ['2024-05-01T14:00:00+02', MAY1_NOON],
    ['2024-05-01T06:30:00-05:30', MAY1_NOON],
    ['2024-05-01T12:00:00-00:00', MAY1_NOON],
    ['2024-05-01T23:59:59.999+23:59', Date.UTC(2024, 4, 1, 0, 0, 59, 999)],
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29', Date.UTC(2000, 1, 29)],
    ['1969-12-31T23:59:59.999Z', -1],
    ['1970-01-01T00:00:00Z', 0],
    ['0000-01-01T00:00:00Z', -62167219200000],
    ['9999-12-31T23:59:59.999Z', 253402300799999],
  ];
  for (const [text, ms] of cases) assert.equal(parseIsoTimestamp(text), ms, text);
});

test('refused forms', () => {
  const cases = [
    '2024-02-30T00:00:00Z', // impossible date
    '2023-02-29', // not a leap year
    '1900-02-29', // century, not a leap year
    '2024-04-31',
    '2024-13-01',
    '2024-00-10',
    '2024-05-00',
    '2024-05-01T12:00:00', // no zone
    '2024-05-01T12:00', // no zone
    '2024-05-01T24:00:00Z',
    '2024-05-01T12:60:00Z',
    '2024-05-01T12:00:60Z', // leap second
    '2024-05-01T12:00:00.Z',
    '2024-05-01T12:00:00.1234567891Z', // >9 fraction digits
    '2024-05-01T12:00:00+24:00',
    '2024-05-01T12:00:00+02:60',
    '2024-05-01T12:00:00+2',
    '2024-05-01T12:00:00+02:0',
    '2024-05-01T12:00:00ZZ',
    '2024-05-01T12:00:00 Z',
    '2024-05-01X12:00:00Z',
    '2024-5-01',
    '+002024-05-01T00:00:00Z',
    '20240501T120000Z',
    '2024-05-01T',
    '',
    'yesterday',
    '1714557600123',
  ];
  for (const text of cases) assert.ok(Number.isNaN(parseIsoTimestamp(text)), text);
});

test('problem messages point at the cause', () => {
  assert.match(isoTimestampProblem('2024-05-01T12:00:00'), /timezone/);
  assert.match(isoTimestampProblem('2024-02-30T00:00:00Z'), /impossible/);
  assert.match(isoTimestampProblem('soon'), /ISO-8601/);
});

test('property: every Date#toISOString and offset rendering parses back to its instant', () => {
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  for (let i = 0; i < 20000; i++) {
    const ms = Math.floor((rand() * 2 - 1) * 62e12) + 1e12; // years ~0005..3960
    assert.equal(parseIsoTimestamp(new Date(ms).toISOString()), ms);
    const offsetMin = Math.floor(rand() * 2 * 1439) - 1439;
    const local = new Date(ms + offsetMin * 60_000);
    const sign = offsetMin < 0 ? '-' : '+';
    const abs = Math.abs(offsetMin);
    const text =
      `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
      `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}.${pad(local.getUTCMilliseconds(), 3)}` +
      `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
    if (local.getUTCFullYear() < 0 || local.getUTCFullYear() > 9999) continue;
    assert.equal(parseIsoTimestamp(text), ms, text);
  }
});
