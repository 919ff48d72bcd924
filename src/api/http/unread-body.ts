/**
 * What becomes of a request body nobody read when the answer is an error
 * sent before it (a 401, a 413 by Content-Length, a 429 from admission).
 * Node reads and drops the rest of such a body to keep the connection for
 * the next request. Up to HTTP_UNREAD_BODY_DRAIN_BYTES_MAX that is what we
 * want; past it, a flood of large refused bodies would have
 * the node read and allocate every byte of them exactly while it is
 * overloaded. Such an answer closes the connection instead: it says
 * `Connection: close`, the socket stops being read, and once the answer is
 * out it is half-closed and destroyed HTTP_UNREAD_BODY_LINGER_MS later, so
 * the client reads the answer before the reset its unsent bytes cause
 * (decision 42).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';
import { HTTP_UNREAD_BODY_DRAIN_BYTES_MAX, HTTP_UNREAD_BODY_LINGER_MS } from '../../config.ts';

/** Whether the body's unread part may be large: it has not all arrived, and it is chunked or declared past the drain bound. */
function unreadBodyTooLarge(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const declared = req.headers['content-length'];
  if (declared === undefined) return req.headers['transfer-encoding'] !== undefined;
  return Number(declared) > HTTP_UNREAD_BODY_DRAIN_BYTES_MAX;
}

/**
 * Before an answer sent with the body unread: when that body may be large,
 * the answer closes the connection without reading the rest. Returns
 * whether it does.
 */
export function closeInsteadOfDraining(req: IncomingMessage, reply: FastifyReply): boolean {
  const socket = req.socket as Socket | null;
  if (socket === null || socket.destroyed || !unreadBodyTooLarge(req)) return false;
  void reply.header('connection', 'close');
  stopReading(socket);
  // Node half-closes and destroys a `Connection: close` socket through destroySoon once the answer is
  // flushed; destroyed at once, the client's unsent bytes meet a closed socket and its kernel may drop
  // the answer with the reset. Half-closed now, destroyed after the linger.
  socket.destroySoon = function lingerThenDestroy(this: Socket): void {
    this.end();
    const timer = setTimeout(() => this.destroy(), HTTP_UNREAD_BODY_LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
  return true;
}

/**
 * Stops reading `socket` for good. Node's HTTP server resumes a request's
 * socket to drop an unread body once the answer is sent (through
 * `socket.resume()`, on either of its read paths); this socket is closing,
 * so that resume is made a no-op.
 */
function stopReading(socket: Socket): void {
  socket.pause();
  socket.resume = function stayPaused(this: Socket): Socket {
    return this;
  };
}
