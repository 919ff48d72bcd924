/**
 * `sluice table limits NAME [--records-per-second N] …`: changes a table's
 * limits (`PATCH /v1/tables/{t}`) and prints the limits that apply. Only
 * the flags given change; `none` removes a limit (JSON null).
 */
import { Command } from 'commander';
import { CliError } from './cli-error.ts';
import { DEFAULT_URL, requestJson } from './http-client.ts';

/** Flag, the limit it sets in the table definition, commander's name for it, help. */
const FLAGS = [
  ['--records-per-second <n>', 'recordsPerSecond', 'recordsPerSecond', 'records written per second, on average'],
  ['--records-burst <n>', 'recordsBurst', 'recordsBurst', 'records one request may take at once (default: one second at the rate)'],
  ['--bytes-per-second <n>', 'bytesPerSecond', 'bytesPerSecond', 'body bytes per second (after decompression)'],
  ['--bytes-burst <n>', 'bytesBurst', 'bytesBurst', 'body bytes one request may take at once'],
  ['--event-time-ahead-max-ms <ms>', 'eventTimeAheadMsMax', 'eventTimeAheadMaxMs', "how far an event time may be ahead of the server clock (default: the node's, 1 h)"],
] as const;

/** The `table limits` subcommand. */
export function tableLimitsCommand(): Command {
  const cmd = new Command('limits')
    .description('show or change a table\'s limits (rates, bursts, event-time bound); "none" removes a limit')
    .argument('<name>', 'table name')
    .option('--url <url>', 'sluice node URL', DEFAULT_URL);
  for (const [flag, , , help] of FLAGS) cmd.option(flag, `${help}; "none" removes it`);
  cmd.action(async (name: string, o: Record<string, string>) => {
    const patch = limitsPatch(o);
    const url = `${o['url'] ?? DEFAULT_URL}/v1/tables/${encodeURIComponent(name)}`;
    const res = (Object.keys(patch).length === 0
      ? await requestJson(url)
      : await requestJson(url, { method: 'PATCH', body: JSON.stringify({ limits: patch }), headers: { 'content-type': 'application/json' } })) as { limits?: unknown };
    process.stdout.write(`${JSON.stringify(res.limits ?? {}, null, 2)}\n`);
  });
  return cmd;
}

/** The merge patch the flags (commander's option values) ask for: numbers, or null for `none`; the node checks the ranges. */
export function limitsPatch(o: Readonly<Record<string, string | undefined>>): Record<string, number | null> {
  const patch: Record<string, number | null> = {};
  for (const [flag, key, attr] of FLAGS) {
    const value = o[attr];
    if (value === undefined) continue;
    if (value === 'none') {
      patch[key] = null;
      continue;
    }
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new CliError(`${flag.split(' ')[0]} must be a number or "none", got ${JSON.stringify(value)}`, 2);
    patch[key] = n;
  }
  return patch;
}
