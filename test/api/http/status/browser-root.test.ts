/**
 * `GET /` belongs to browsers only when they prefer HTML: another route
 * may serve `GET /` and `HEAD /` to programs (an Elasticsearch probe), and
 * both live on one server without a duplicate-route error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { BROWSERS_ONLY, addAcceptStrategy } from '../../../../src/api/http/status/status-routes.ts';

test('GET / with a browser Accept reaches the page; any other GET / or HEAD / reaches the unconstrained route', async (t) => {
  const app = Fastify({ logger: false });
  t.after(() => app.close());
  addAcceptStrategy(app);
  addAcceptStrategy(app);
  app.get('/', { ...BROWSERS_ONLY, exposeHeadRoute: false }, async () => 'page');
  app.get('/', async () => 'probe');
  const get = async (accept?: string): Promise<string> => (await app.inject({ method: 'GET', url: '/', headers: accept === undefined ? {} : { accept } })).body;
  assert.equal(await get('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), 'page');
  assert.equal(await get('text/html'), 'page');
  assert.equal(await get(), 'probe');
  assert.equal(await get('*/*'), 'probe');
  assert.equal(await get('application/json'), 'probe');
  assert.equal(await get('application/json, text/html;q=0.1'), 'probe');
  assert.equal((await app.inject({ method: 'HEAD', url: '/' })).statusCode, 200, 'HEAD / is the probe route’s');
});

test('alone, GET / without a browser Accept finds no route', async (t) => {
  const app = Fastify({ logger: false });
  t.after(() => app.close());
  addAcceptStrategy(app);
  app.get('/', { ...BROWSERS_ONLY, exposeHeadRoute: false }, async () => 'page');
  assert.equal((await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } })).body, 'page');
  assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 404);
});
