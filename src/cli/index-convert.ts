/**
 * `sluice index convert`: moves a stopped node's index to the other engine
 * (storage/index/convert-index.ts), e.g. a data dir made with LMDB, the default
 * before LevelDB (decision 16).
 */
import { Command, Option } from 'commander';
import { DEFAULT_CONFIG } from '../config.ts';
import { convertIndex } from '../storage/index/convert-index.ts';
import type { EngineKind } from '../storage/engine/storage-engine.ts';

/** The index command group. */
export function indexCommand(): Command {
  const index = new Command('index').description("a stopped node's index");
  index
    .command('convert')
    .description('copy the index of a stopped node into another engine and switch its data dir to it')
    .option('--data-dir <dir>', 'data directory of the stopped node', DEFAULT_CONFIG.dataDir)
    .addOption(new Option('--engine <kind>', 'engine to convert to').choices(['lmdb', 'level']).makeOptionMandatory())
    .action(async (o: { dataDir: string; engine: EngineKind }) => {
      let last = 0;
      const report = await convertIndex(o.dataDir, o.engine, (entries) => {
        if (entries - last >= 1_000_000) {
          last = entries;
          process.stderr.write(`${entries} entries copied\n`);
        }
      });
      process.stdout.write(`${report.from} -> ${report.to}: ${report.entries} index entries copied in ${(report.ms / 1000).toFixed(1)} s (checkpoint LSN ${report.checkpointLsn})\n`);
    });
  return index;
}
