/**
 * The `iot` group: sensor readings, device events with nested JSON, and
 * device status, all keyed by device id.
 */
import { intBetween, pick, u32, unit } from '../prng.ts';
import { benchTable, type BenchTable } from '../bench-table.ts';

const EVENT_KINDS = ['boot', 'alarm', 'ota_start', 'ota_done', 'door_open', 'door_close', 'motion', 'tamper'] as const;
const TAGS = ['indoor', 'outdoor', 'roof', 'basement', 'cold_chain', 'hvac', 'solar', 'gateway', 'battery', 'mains', 'eu', 'us', 'apac', 'pilot', 'fleet_a', 'fleet_b'] as const;
const MODES = ['normal', 'eco', 'sleep', 'maintenance'] as const;
const ERRORS = ['E_SENSOR_TIMEOUT', 'E_LOW_BATTERY', 'E_RADIO_RETRY', 'E_FLASH_FULL', 'E_CLOCK_DRIFT'] as const;

/** A firmware version `major.minor.patch` from the low 11 bits of `w`. */
function firmwareVersion(w: number): string {
  return `${w & 3}.${(w >>> 2) & 15}.${(w >>> 6) & 31}`;
}

/** Up to three distinct-ish tags from bits 11..25 of `w` (duplicates kept: arrays may repeat). */
function tagsOf(w: number): string[] {
  const count = (w >>> 11) & 3;
  const tags: string[] = [];
  for (let i = 0; i < count; i++) tags.push(TAGS[(w >>> (13 + 4 * i)) & 15] as string);
  return tags;
}

/** `iot.reading`: floats and counters, the bulk of IoT traffic. */
export const IOT_READING: BenchTable = benchTable({
  group: 'iot',
  kind: 'reading',
  shardKey: 'device_id',
  keyPrefix: 'dev-',
  payload: [
    { name: 'temperature', type: 'float', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, -2000, 4500) / 100 },
    { name: 'humidity', type: 'float', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, 0, 10000) / 100 },
    { name: 'battery', type: 'float', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, 300, 420) / 100 },
    { name: 'rssi', type: 'int', required: false, gen: (p, j, s) => intBetween(p.seed, s, j, -120, -30) },
    { name: 'packets', type: 'int', required: false, gen: (p, j, s) => intBetween(p.seed, s, j, 0, 2_000_000) },
    // Mostly zero, as error counters are.
    { name: 'errors', type: 'int', required: false, gen: (p, j, s) => (unit(p.seed, s, j) < 0.9 ? 0 : intBetween(p.seed, s + 1, j, 1, 50)) },
  ],
});

/** `iot.event`: a kind and a nested `detail` json (`fw{ver,build}`, `gps{lat,lon,alt}`, `tags[]`). */
export const IOT_EVENT: BenchTable = benchTable({
  group: 'iot',
  kind: 'event',
  shardKey: 'device_id',
  keyPrefix: 'dev-',
  payload: [
    { name: 'kind', type: 'string', required: true, gen: (p, j, s) => pick(EVENT_KINDS, p.seed, s, j) },
    { name: 'severity', type: 'int', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, 0, 5) },
    {
      name: 'detail',
      type: 'json',
      required: false,
      gen: (p, j, s) => {
        const w = u32(p.seed, s, j);
        return {
          fw: { ver: firmwareVersion(w), build: intBetween(p.seed, s + 1, j, 1000, 99999) },
          gps: {
            lat: intBetween(p.seed, s + 2, j, -9_000_000, 9_000_000) / 100_000,
            lon: intBetween(p.seed, s + 3, j, -18_000_000, 18_000_000) / 100_000,
            alt: intBetween(p.seed, s + 4, j, -4000, 880_000) / 100,
          },
          tags: tagsOf(w),
        };
      },
    },
  ],
});

/** `iot.status`: booleans, a small int, and a nullable string. */
export const IOT_STATUS: BenchTable = benchTable({
  group: 'iot',
  kind: 'status',
  shardKey: 'device_id',
  keyPrefix: 'dev-',
  payload: [
    { name: 'online', type: 'bool', required: true, gen: (p, j, s) => unit(p.seed, s, j) < 0.93 },
    { name: 'battery_pct', type: 'int', required: true, gen: (p, j, s) => intBetween(p.seed, s, j, 0, 100) },
    { name: 'firmware', type: 'string', required: true, gen: (p, j, s) => `fw-${firmwareVersion(u32(p.seed, s, j))}` },
    { name: 'mode', type: 'string', required: true, gen: (p, j, s) => pick(MODES, p.seed, s, j) },
    // Null most of the time: exercises explicit nulls on write and read-back.
    { name: 'last_error', type: 'string', required: false, gen: (p, j, s) => (unit(p.seed, s, j) < 0.85 ? null : pick(ERRORS, p.seed, s + 1, j)) },
  ],
});
