/**
 * `Expect: 100-continue` answered when the body is wanted, not before.
 * Node answers `100 Continue` as soon as the head has arrived, so a client
 * that asks (curl does past 1 MiB) sends its body even when the token, the
 * size or the node's load will refuse it. Here the server holds the 100
 * back: the request goes through the auth hook, the route and admission
 * first, and the body reader sends the 100 right before it reads. A request
 * refused before that gets its answer without the client ever sending the
 * body (and Node closes that connection: the client may still send it).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Requests whose client waits for `100 Continue`, until it is sent. */
const waiting = new WeakMap<IncomingMessage, ServerResponse>();

/** Makes `server` hand requests that expect 100-continue to its handler without answering the 100. */
export function deferContinue(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    waiting.set(req, res);
    server.emit('request', req, res);
  });
}

/** Before reading `req`'s body: tells a client that waits for it to send the body (once; nothing for other requests). */
export function continueIfExpected(req: IncomingMessage): void {
  const res = waiting.get(req);
  if (res === undefined) return;
  waiting.delete(req);
  if (!res.headersSent && !res.writableEnded) res.writeContinue();
}
