/**
 * The OTLP decode worker (a piscina worker thread): runs one task and
 * hands the records' JSON and positions back by transfer, not by copy.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { runOtlpDecode, type OtlpDecodeAnswer, type OtlpDecodeTask } from './otlp-decode-task.ts';

/** piscina entry point. */
export default function otlpDecode(task: OtlpDecodeTask): OtlpDecodeAnswer {
  const answer = runOtlpDecode(task);
  if (!answer.ok) return answer;
  const buffers = [answer.decoded.json.buffer as ArrayBuffer, answer.decoded.positions.buffer as ArrayBuffer].filter((b) => b.byteLength > 0);
  const transferable = {
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return answer;
    },
  };
  return move(transferable as never) as unknown as OtlpDecodeAnswer;
}
