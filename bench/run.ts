/**
 * `npm run bench [-- single] [--records N] [--runs N] [--quick]`: runs the
 * benchmarks and prints Markdown tables ready for docs/benchmarks.md, with
 * the date and the machine.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runSingleNodeBench } from './single-node.bench.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    records: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    'single-seconds': { type: 'string', default: '10' },
    engines: { type: 'string', default: 'lmdb,level' },
    quick: { type: 'boolean', default: false },
  },
});
const suite = positionals[0] ?? 'single';
const quick = values.quick === true;

console.log(`# sluice benchmark: ${suite}`);
console.log('');
console.log(`${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'} · ${Math.round(os.totalmem() / 2 ** 30)} GiB · ${os.type()} ${os.release()} · Node ${process.version}`);
console.log(`command: npm run bench -- ${process.argv.slice(2).join(' ')}`);
console.log('');

if (suite === 'single') {
  await runSingleNodeBench({
    records: quick ? 100_000 : Number(values.records),
    perBody: 1000,
    connections: Number(values.connections),
    singleSeconds: quick ? 3 : Number(values['single-seconds']),
    runs: quick ? 1 : Number(values.runs),
    engines: String(values.engines).split(',') as ('lmdb' | 'level')[],
  });
} else {
  console.error(`unknown benchmark suite ${suite} (known: single)`);
  process.exit(2);
}
