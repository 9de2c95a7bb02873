/**
 * lock: true serialises the requests of one session across web servers, a lock left by a
 * web server that crashed expires, and a request never waits for the lock it holds itself.
 * session-lock-renewal.test.ts covers renewal and loss.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session from 'express-session';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import type { Client } from '../../src/client/index.js';
import { ErrorCode, StatehouseError } from '../../src/core/errors.js';
import { createExpressStore } from '../../src/session/express.js';
import { createFastifyStore, type FastifySessionStore } from '../../src/session/fastify.js';
import type { SessionStoreOptions } from '../../src/session/engine.js';
import { Browser, useSharedCluster, Gate, listen, sleep } from './helpers.js';
import { countingApp } from './counting-app.js';

declare module 'fastify' {
  interface Session {
    count?: number;
  }
}

let client: Client;
useSharedCluster((c) => (client = c));

type After = Parameters<typeof listen>[0];

/** countingApp's routes on @fastify/session. */
async function fastifyCountingApp(
  t: After,
  store: FastifySessionStore,
  { rolling = true, log = [] as string[], gates = new Map<string, Gate>() } = {},
): Promise<FastifyInstance> {
  const server = Fastify();
  t.after(async () => {
    await server.close();
    store.close();
  });
  await server.register(fastifyCookie);
  await server.register(fastifySession, {
    secret: 'a secret of at least thirty-two characters',
    store,
    rolling,
    saveUninitialized: false,
    cookie: { secure: false, maxAge: 60_000 },
  });
  server.post<{ Params: { name: string } }>('/step/:name', async (request) => {
    const { name } = request.params;
    log.push(`${name} starts, count ${request.session.count ?? 0}`);
    await gates.get(name)?.pass();
    request.session.count = (request.session.count ?? 0) + 1;
    log.push(`${name} ends`);
    return { ok: true };
  });
  server.post('/reload', async (request) => {
    request.session.count = -1;
    await request.session.reload();
    return { count: request.session.count ?? null };
  });
  return server;
}

function cookieOf(reply: LightMyRequestResponse): { cookie: string } {
  return { cookie: `sessionId=${reply.cookies.find((c) => c.name === 'sessionId')!.value}` };
}

function app(
  options: Partial<SessionStoreOptions>,
  log: string[] = [],
  gates = new Map<string, Gate>(),
  store = createExpressStore(session, { client, ...options }),
): express.Express {
  return countingApp(store, log, gates);
}

test('with lock: true, two concurrent requests of one session run one after the other', async (t) => {
  const log: string[] = [];
  const gates = new Map([['a', new Gate()]]);
  const options = { prefix: 'lock-serial:', lock: true };
  const browser = new Browser([
    await listen(t, app(options, log, gates)),
    await listen(t, app(options, log, gates)),
  ]);
  await browser.request('POST', '/step/login');
  log.length = 0;
  const a = browser.request('POST', '/step/a');
  await gates.get('a')!.arrived;
  const b = browser.request('POST', '/step/b');
  // Give b every chance to overtake a, were it not waiting for the lock.
  await sleep(100);
  gates.get('a')!.release();
  await Promise.all([a, b]);
  assert.deepEqual(log, ['a starts, count 1', 'a ends', 'b starts, count 2', 'b ends']);
});

test('a lock abandoned by a crashed web server expires, and the next request proceeds', async (t) => {
  const options = { prefix: 'lock-crash:', lock: { ttlMs: 300 } };
  const browser = new Browser([await listen(t, app(options))]);
  await browser.request('POST', '/step/login');
  const id = browser.sessionId!;
  // Another web server loads the session (taking the lock) and dies before it saves: it
  // stops renewing the lock, as a closed store does.
  const crashed = createExpressStore(session, { client, ...options });
  assert.notEqual(await crashed.get(id), null);
  crashed.close();
  assert.notEqual(await client.get(`lock-crash:!lock:${id}`), null, 'the lock is taken');
  const reply = await browser.request('POST', '/step/after-crash');
  assert.equal(reply.status, 200);
  assert.equal((await client.get<{ count: number }>(`lock-crash:${id}`))?.count, 2);
});

test('a request that cannot get the lock within lock.waitMs fails instead of running unlocked', async (t) => {
  const options = { prefix: 'lock-wait:', lock: { ttlMs: 30_000, waitMs: 100 } };
  const store = createExpressStore(session, { client, ...options });
  const browser = new Browser([await listen(t, app(options, [], new Map(), store))]);
  await browser.request('POST', '/step/login');
  const crashed = createExpressStore(session, { client, ...options });
  const held = await crashed.get(browser.sessionId!);
  assert.deepEqual(await browser.request('POST', '/step/blocked'), {
    status: 500,
    body: { code: 'TIMEOUT' },
    setCookie: null,
  });
  assert.equal(store.connected, true, 'a taken lock is not a lost cluster');
  await crashed.unlock(held!);
  crashed.close();
  assert.equal((await browser.request('POST', '/step/unblocked')).status, 200);
});

test('express-session: reload under a lock reads the session again without waiting for its own lock', async (t) => {
  // A request that waited for itself would fail after waitMs with TIMEOUT.
  const options = { prefix: 'lock-reload:', lock: { ttlMs: 2_000, waitMs: 1_000 } };
  const browser = new Browser([await listen(t, app(options))]);
  await browser.request('POST', '/step/login');
  const reply = await browser.request('POST', '/reload');
  assert.deepEqual([reply.status, reply.body], [200, { count: 1 }]);
  // The request that reloaded released the lock when it ended.
  assert.equal((await browser.request('POST', '/step/next')).status, 200);
});

test('@fastify/session: reload under a lock reads the session again without waiting for its own lock', async (t) => {
  const store = createFastifyStore({
    client,
    prefix: 'f-lock-reload:',
    lock: { ttlMs: 2_000, waitMs: 1_000 },
  });
  const server = await fastifyCountingApp(t, store);
  const headers = cookieOf(await server.inject({ method: 'POST', url: '/step/login' }));
  const reply = await server.inject({ method: 'POST', url: '/reload', headers });
  assert.equal(reply.statusCode, 200, reply.body);
  assert.deepEqual(reply.json(), { count: 1 });
  const next = await server.inject({ method: 'POST', url: '/step/next', headers });
  assert.equal(next.statusCode, 200, next.body);
  // The reload the store gives the session under a lock is never stored.
  const signed = decodeURIComponent(headers.cookie.slice('sessionId='.length));
  const stored = await client.get<object>(
    `f-lock-reload:${signed.slice(0, signed.lastIndexOf('.'))}`,
  );
  assert.deepEqual(Object.keys(stored ?? {}).sort(), ['cookie', 'count']);
});

test("@fastify/session: an unlock in onResponse releases its own request's lock, never the next request's", async (t) => {
  const store = createFastifyStore({
    client,
    prefix: 'f-lock-unlock:',
    lock: { ttlMs: 5_000, waitMs: 5_000 },
  });
  const log: string[] = [];
  const gates = new Map<string, Gate>();
  const server = await fastifyCountingApp(t, store, { rolling: false, log, gates });
  let unlocked = 0;
  // What the README says to do with rolling: false.
  server.addHook('onResponse', async (request) => {
    await gates.get(`unlock ${request.url}`)?.pass();
    if (request.session !== null) await store.unlock(request.session);
    unlocked++;
  });
  const headers = cookieOf(await server.inject({ method: 'POST', url: '/step/login' }));
  while (unlocked < 1) await sleep(5);
  log.length = 0;

  // a changes the session: its save (in onSend) releases its lock, and its onResponse, with
  // the unlock, waits until b has taken the lock.
  const aUnlock = new Gate();
  gates.set('unlock /step/a', aUnlock);
  const a = server.inject({ method: 'POST', url: '/step/a', headers });
  await aUnlock.arrived;
  const bGate = new Gate();
  gates.set('b', bGate);
  const b = server.inject({ method: 'POST', url: '/step/b', headers });
  await bGate.arrived;
  aUnlock.release();
  while (unlocked < 2) await sleep(5);
  const c = server.inject({ method: 'POST', url: '/step/c', headers });
  // Give c every chance to overtake b, were a's unlock to have freed b's lock.
  await sleep(300);
  bGate.release();
  await Promise.all([a, b, c]);
  assert.deepEqual(log, [
    'a starts, count 1',
    'a ends',
    'b starts, count 2',
    'b ends',
    'c starts, count 3',
    'c ends',
  ]);
});

test('unlock takes the session, not its id', async () => {
  const store = createFastifyStore({ client, prefix: 'f-lock-unlock-id:', lock: true });
  await assert.rejects(store.unlock('an id' as unknown as object), {
    code: 'BAD_REQUEST',
    message: /not its id/,
  });
  store.close();
});

test('@fastify/session: a get that fails while sliding the expiry releases the lock it took', async (t) => {
  const store = createFastifyStore({
    client,
    prefix: 'f-lock-slide:',
    lock: { ttlMs: 1_000, waitMs: 500 },
  });
  t.after(() => store.close());
  const cookie = { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() };
  // Stored with 10 s of its 60 left: the next get slides it.
  await client.set('f-lock-slide:s1', { cookie, user: 'ada' }, { ttlMs: 10_000 });
  // The slide's touch fails once (a partition failing over, say).
  const touch = client.touch.bind(client);
  let failures = 1;
  client.touch = async (...args: Parameters<typeof touch>) => {
    if (failures-- > 0) throw new StatehouseError(ErrorCode.UNAVAILABLE, 'injected');
    return touch(...args);
  };
  t.after(() => {
    client.touch = touch;
  });
  await assert.rejects(store.get('s1'), { code: 'UNAVAILABLE' });
  // The user's next request gets the session, rather than waiting for a lock nobody releases.
  const next = (await store.get('s1')) as { user?: string } | null;
  assert.equal(next?.user, 'ada');
  await store.unlock(next!);
});
