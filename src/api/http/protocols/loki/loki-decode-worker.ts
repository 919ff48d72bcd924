/**
 * The Loki decode worker (a piscina worker thread): runs one push and
 * hands its records body back by transfer, not by copy, when the body
 * owns its memory (a small one, cut from Node's shared pool, is copied).
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { runLokiDecode, type LokiDecodeAnswer, type LokiDecodeTask } from './loki-decode.ts';

/** piscina entry point. */
export default function lokiDecodeTask(task: LokiDecodeTask): LokiDecodeAnswer {
  const answer = runLokiDecode(task);
  if (!answer.ok) return answer;
  const r = answer.records;
  if (r.byteOffset !== 0 || r.byteLength !== r.buffer.byteLength) return answer;
  const transferable = {
    get [transferableSymbol]() {
      return [r.buffer];
    },
    get [valueSymbol]() {
      return answer;
    },
  };
  return move(transferable as never) as unknown as LokiDecodeAnswer;
}
