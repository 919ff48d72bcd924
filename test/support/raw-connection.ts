/** A raw TCP connection for tests of what a listener does at the socket level (refusals, idle timeouts). */
import net from 'node:net';

/** A connected socket, everything it has received so far, and a promise of its close. */
export async function rawConnection(port: number, host = '127.0.0.1') {
  const socket = net.connect(port, host);
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, closed, received: () => received };
}
