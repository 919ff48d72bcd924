/**
 * The conversion worker (a piscina worker thread): runs one ConvertTask
 * and hands the bodies (or record batches) back by transfer, not by copy.
 * Row batches encode into fresh ArrayBuffers (TextEncoder, the batch
 * builder), so each owns its memory.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { runConvertTask, type ConvertResult, type ConvertTask } from './convert-task.ts';

/** piscina entry point. */
export default async function convertTask(task: ConvertTask): Promise<ConvertResult> {
  const result = await runConvertTask(task);
  const buffers: ArrayBuffer[] = [];
  for (const b of result.batches) {
    if (b.body !== null) buffers.push(b.body.buffer as ArrayBuffer);
    // A record batch owns its buffer (the builder allocates outside Node's pool), as do positions and letters' texts.
    if (b.encoded !== undefined) {
      buffers.push(b.encoded.batch.buffer as ArrayBuffer);
      if (b.encoded.positions !== undefined) buffers.push(b.encoded.positions.buffer as ArrayBuffer);
      for (const raw of b.encoded.refusedRaw ?? []) buffers.push(raw.buffer as ArrayBuffer);
    }
  }
  if (result.rowLines !== undefined) buffers.push(result.rowLines.buffer as ArrayBuffer);
  const transferable = {
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return result;
    },
  };
  return move(transferable as never) as unknown as ConvertResult;
}
