/**
 * Requests whose answer comes when the operation they start has run
 * (`sluice cluster cleanup`, `repair`), however long that is. fetch
 * (undici) gives up on an answer after 300 s without its headers, and the
 * CLI then reported a node that was still cleaning up as unreachable.
 * These go through node:http, whose client sets no time limit on an
 * answer; the connection is still bounded (CLI_CONNECT_TIMEOUT_MS), so an
 * address that never answers fails, and Ctrl-C ends the wait, saying that
 * the node goes on: leaving does not cancel the operation there.
 */
import http from 'node:http';
import https from 'node:https';
import { CLI_CONNECT_TIMEOUT_MS } from '../config.ts';
import { CliError } from './cli-error.ts';
import { authHeaders } from './client-auth.ts';
import { answerOf } from './http-client.ts';

/** Sends a bodiless `method` request and waits for its JSON answer as long as it takes; `what` names the operation if Ctrl-C ends the wait. */
export async function requestJsonLong(url: string, method: 'POST', what: string): Promise<unknown> {
  const onInterrupt = (): void => {
    process.stderr.write(`sluice: interrupted; the node goes on with the ${what} (leaving does not cancel it)\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    const { status, text } = await send(new URL(url), method);
    return answerOf(status, text);
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

/** One request on its own connection: the status and text of the answer. */
function send(url: URL, method: string): Promise<{ status: number; text: string }> {
  const tls = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    let connected = false;
    // A connection of its own (agent: false): no idle keep-alive socket holds the process after the answer.
    const req = (tls ? https : http).request(url, { method, agent: false, headers: { ...authHeaders(), 'content-length': '0' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('close', () => {
        if (!res.complete) reject(lost(url, 'the connection closed in the middle of the answer'));
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no connection within ${CLI_CONNECT_TIMEOUT_MS} ms`)), CLI_CONNECT_TIMEOUT_MS);
    req.on('socket', (socket) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        connected = true;
        clearTimeout(timer);
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(connected ? lost(url, err.message) : new CliError(`cannot reach ${url.origin}: ${err.message}`));
    });
    req.end();
  });
}

/** The connection ended after the request went out: the node may have run the operation, or be running it still. */
function lost(url: URL, why: string): CliError {
  return new CliError(`lost ${url.origin} before its answer (${why}); the node may have run the operation or be running it still: see its log`);
}
