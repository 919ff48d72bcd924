/**
 * Counts the HTTP listener's connections and refuses those past
 * `--connections-max` cleanly. Node's `server.maxConnections` closes a
 * socket at accept, which a client sees as a reset it cannot tell from a
 * crash. Here a plain-HTTP client gets a whole 503 TOO_MANY_CONNECTIONS
 * answer (Retry-After, Connection: close) and a TLS client a clean close
 * (there is no handshake to answer in). The gate sits between the
 * listener and the HTTP server's own connection handler, which never sees
 * a refused socket: no parser, no request, no route.
 *
 * A held connection costs one `close` listener (one function shared by
 * all) and a counter: no timers, maps or closures of its own, so 100,000
 * idle connections cost no CPU here.
 */
import assert from 'node:assert/strict';
import type { Server, Socket } from 'node:net';
import { SluiceError } from '../../core/errors.ts';

/** What happened to a connection: `closed` counts every close of an accepted one, `idle_timeout` those the keep-alive timer closed. */
export type ConnectionEvent = 'accepted' | 'closed' | 'refused' | 'idle_timeout';

/** How a gate admits and refuses. */
export interface ConnectionGateOptions {
  /** Connections held at once; the next is refused. */
  readonly connectionsMax: number;
  /** The listener speaks TLS: a refused connection is closed without an answer. */
  readonly tls: boolean;
  /** Sent as Retry-After with the refusal. */
  readonly retryAfterSeconds: number;
  /** Longest a refused connection is read (and dropped) after its answer, waiting for the client to close. */
  readonly lingerMs: number;
  readonly onEvent: (event: ConnectionEvent) => void;
}

/** The connections a gated listener holds. */
export interface ConnectionGate {
  readonly open: number;
}

/**
 * Puts a gate in front of `server`'s connection handler (an http.Server or
 * https.Server, before it listens), and counts the connections its
 * keep-alive timer closes.
 */
export function gateConnections(server: Server, options: ConnectionGateOptions): ConnectionGate {
  const handlers = server.listeners('connection') as ((this: Server, socket: Socket) => void)[];
  // http.Server and tls.Server register their own handler when made; another one here would run ungated.
  assert.equal(handlers.length, 1, 'the server has exactly its own connection handler');
  const handler = handlers[0] as (this: Server, socket: Socket) => void;
  server.removeAllListeners('connection');
  const answer = options.tls ? undefined : refusalAnswer(options);
  const gate = { open: 0 };
  const onClose = (): void => {
    gate.open -= 1;
    options.onEvent('closed');
  };
  server.on('connection', function (this: Server, socket: Socket) {
    if (gate.open >= options.connectionsMax) {
      refuse(socket, answer, options.lingerMs);
      options.onEvent('refused');
      return;
    }
    gate.open += 1;
    options.onEvent('accepted');
    socket.on('close', onClose);
    handler.call(this, socket);
  });
  // Node emits a server 'timeout' only when a socket's own timer fires; with no server-wide socket
  // timeout (fastify's connectionTimeout 0) that is the keep-alive timer of an idle connection.
  // A listener here takes over Node's default, which is to destroy the socket.
  server.on('timeout', (socket: Socket) => {
    options.onEvent('idle_timeout');
    socket.destroy();
  });
  return gate;
}

/** The whole HTTP answer to a refused connection, made once. */
function refusalAnswer(options: ConnectionGateOptions): Buffer {
  const error = new SluiceError('TOO_MANY_CONNECTIONS', `this node holds its ${options.connectionsMax} HTTP connections (--connections-max); retry later`);
  const body = JSON.stringify(error.toBody());
  return Buffer.from(
    'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\nretry-after: ${options.retryAfterSeconds}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Answers (plain HTTP) and half-closes a refused socket, then reads and
 * drops what its client sends until the client closes, or `lingerMs`:
 * closing with the client's request unread would send a reset, which can
 * destroy the answer before the client reads it.
 */
function refuse(socket: Socket, answer: Buffer | undefined, lingerMs: number): void {
  socket.on('error', ignore);
  // A deadline, not socket.setTimeout: that idle timer restarts on every byte read, so a client that
  // keeps sending would hold the socket for good, a descriptor the gate does not count.
  const deadline = setTimeout(destroySocket, lingerMs, socket);
  socket.once('close', () => clearTimeout(deadline));
  if (answer === undefined) socket.end();
  else socket.end(answer);
  socket.resume();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

function ignore(): void {}
