/**
 * One keep-alive HTTP/1.1 connection of the load generator on `node:net`
 * (or `node:tls`), as autocannon does: a preformatted request written in one
 * piece, and a small parser for the answer (status, Content-Length or
 * chunked body, Retry-After, Connection: close). No pipelining: one request
 * at a time per connection. An idle connection holds no timer or buffer, so
 * 100,000 of them cost the generator little more than their sockets.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Where a connection goes. */
export interface Target {
  readonly host: string;
  readonly port: number;
  /** https: the TLS options (ca, servername); undefined for http. */
  readonly tls?: tls.ConnectionOptions;
  /** Host header value. */
  readonly hostHeader: string;
}

/** A parsed answer. */
export interface HttpReply {
  readonly status: number;
  /** Retry-After in seconds, when given as a number. */
  readonly retryAfterS: number | undefined;
  /** The server will close the connection after this answer. */
  readonly close: boolean;
  readonly body: string;
}

/** Why an attempt failed without an answer (counted by kind). */
export class TransportError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
  }
}

type Done = (err: TransportError | undefined, reply?: HttpReply) => void;

const HEAD_END = Buffer.from('\r\n\r\n');

/** A keep-alive connection; `onGone` is called once when it closes. */
export class HttpConnection {
  private socket: net.Socket;
  private done: Done | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private openFlag = false;
  private goneFlag = false;
  /** Requests answered on this connection. */
  answered = 0;
  /** An answer that came with no request in flight, if any. */
  unsolicited: HttpReply | undefined;

  readonly target: Target;
  readonly localAddress: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly onGone: (conn: HttpConnection) => void;

  constructor(target: Target, localAddress: string | undefined, requestTimeoutMs: number, onOpenOnce: (err: TransportError | undefined) => void, onGone: (conn: HttpConnection) => void) {
    this.target = target;
    this.localAddress = localAddress;
    this.requestTimeoutMs = requestTimeoutMs;
    this.onGone = onGone;
    let reported = false;
    const onOpen = (err: TransportError | undefined): void => {
      if (reported) return;
      reported = true;
      onOpenOnce(err);
    };
    const base = { host: target.host, port: target.port, ...(localAddress === undefined ? {} : { localAddress }) };
    this.socket = target.tls === undefined ? net.connect(base) : tls.connect({ ...base, ...target.tls });
    this.socket.setNoDelay(true);
    const ready = target.tls === undefined ? 'connect' : 'secureConnect';
    this.socket.once(ready, () => {
      this.openFlag = true;
      onOpen(undefined);
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('timeout', () => this.socket.destroy(new TransportError('timeout', `no answer within ${this.requestTimeoutMs} ms`)));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      const kind = err instanceof TransportError ? err.kind : (err.code ?? 'error');
      if (!this.openFlag) onOpen(new TransportError(kind, err.message));
      else this.fail(new TransportError(kind, err.message));
    });
    this.socket.on('close', () => {
      if (!this.openFlag) onOpen(new TransportError('ECONNRESET', 'closed before connecting'));
      this.fail(new TransportError('ECONNRESET', 'connection closed'));
      if (!this.goneFlag) {
        this.goneFlag = true;
        this.onGone(this);
      }
    });
  }

  /** True once connected and until closed, or until the node said it closes it. */
  get open(): boolean {
    return this.openFlag && !this.goneFlag && this.unsolicited === undefined;
  }

  /** True once it has connected, even if closed since. */
  get everOpened(): boolean {
    return this.openFlag;
  }

  /** True while a request waits for its answer. */
  get busy(): boolean {
    return this.done !== undefined;
  }

  /**
   * Writes `POST path` (or `method`) with `headers` (each line ending in CRLF) and `body`;
   * `done` gets the answer or why there was none.
   */
  send(path: string, headers: string, body: string, done: Done, method = 'POST'): void {
    if (this.done !== undefined) throw new Error('a request is already in flight on this connection');
    if (!this.open) {
      done(new TransportError('ECONNRESET', 'connection closed'));
      return;
    }
    this.done = done;
    this.socket.setTimeout(this.requestTimeoutMs);
    const length = method === 'GET' ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    const head = `${method} ${path} HTTP/1.1\r\nHost: ${this.target.hostHeader}\r\n${headers}${length}\r\n`;
    // One write, one segment: the head is ASCII, so head + body is one UTF-8 string.
    this.socket.write(head + body);
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy();
  }

  private fail(err: TransportError): void {
    const done = this.done;
    if (done === undefined) return;
    this.done = undefined;
    this.buf = Buffer.alloc(0);
    done(err);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const reply = parseReply(this.buf);
    if (reply === undefined) return;
    if (reply === null) {
      this.socket.destroy(new TransportError('protocol', 'unreadable HTTP answer'));
      return;
    }
    this.buf = Buffer.alloc(0);
    const done = this.done;
    this.done = undefined;
    this.socket.setTimeout(0);
    if (reply.close) this.socket.end();
    if (done === undefined) {
      // Said before any request: a node past --connections-max (503 TOO_MANY_CONNECTIONS), or a 408 on an idle connection.
      this.unsolicited = reply;
      return;
    }
    this.answered++;
    done(undefined, reply);
  }
}

/** One complete answer in `buf`, undefined when more bytes are needed, null when it is not HTTP. */
export function parseReply(buf: Buffer): HttpReply | undefined | null {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd < 0) return buf.length > 64 * 1024 ? null : undefined;
  const head = buf.toString('latin1', 0, headEnd);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (m === null) return null;
  const status = Number(m[1]);
  const headers = head.toLowerCase();
  const bodyStart = headEnd + 4;
  let body: string;
  const length = /\r\ncontent-length: *(\d+)/.exec(headers);
  if (length !== null) {
    const end = bodyStart + Number(length[1]);
    if (buf.length < end) return undefined;
    body = buf.toString('utf8', bodyStart, end);
  } else if (/\r\ntransfer-encoding: *chunked/.test(headers)) {
    const chunked = readChunked(buf, bodyStart);
    if (chunked === undefined) return undefined;
    body = chunked;
  } else {
    body = '';
  }
  const retry = /\r\nretry-after: *(\d+)/.exec(headers);
  return { status, retryAfterS: retry === null ? undefined : Number(retry[1]), close: /\r\nconnection: *close/.test(headers), body };
}

/** A whole chunked body from `start`, or undefined when its last chunk has not arrived. */
function readChunked(buf: Buffer, start: number): string | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
    if (!Number.isFinite(size)) return '';
    const dataStart = lineEnd + 2;
    if (buf.length < dataStart + size + 2) return undefined;
    if (size === 0) return Buffer.concat(parts).toString('utf8');
    parts.push(buf.subarray(dataStart, dataStart + size));
    at = dataStart + size + 2;
  }
}
