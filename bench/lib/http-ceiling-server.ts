/**
 * The HTTP ceiling peer: bare fastify on this machine that reads a JSON
 * body, parses it and answers with an id, with no validation, no disk and no
 * index. Single-record figures are printed against it. Prints its URL.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
let n = 0;
app.post('/echo', async (request) => {
  const body = request.body as { account_id?: string };
  return { written: 1, ids: [String(++n)], account: body.account_id ?? null };
});
// Answered once by every connection `sluice bench --rate 0` holds open.
app.get('/healthz', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no address');
console.log(`http://127.0.0.1:${address.port}`);
