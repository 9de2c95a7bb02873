/**
 * @fastify/session with the Statehouse store, end to end on a three-node cluster: two Fastify
 * instances (two web servers), driven in process with inject(), one browser whose requests
 * alternate between them.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import type { Client } from '../../src/client/index.js';
import { createFastifyStore, loadedField } from '../../src/session/fastify.js';
import type { SessionStoreOptions } from '../../src/session/engine.js';
import { eventually } from '../helpers/cluster.js';
import { useSharedCluster, sleep } from './helpers.js';

declare module 'fastify' {
  interface Session {
    user?: string;
    theme?: string;
    cart?: string[];
  }
}

let client: Client;
const scope = useSharedCluster((c) => (client = c));

async function app(
  options: Partial<SessionStoreOptions>,
  session: { maxAge?: number; rolling?: boolean } = {},
): Promise<FastifyInstance> {
  const server = Fastify();
  await server.register(fastifyCookie);
  await server.register(fastifySession, {
    secret: 'a secret of at least thirty-two characters',
    store: createFastifyStore({ client, ...options }),
    saveUninitialized: false,
    rolling: session.rolling ?? true,
    cookie: { secure: false, maxAge: session.maxAge ?? 60_000 },
  });
  server.post('/login', async (request) => {
    request.session.user = 'ada';
    request.session.cart = [];
    return { ok: true };
  });
  server.post<{ Params: { theme: string } }>('/theme/:theme', async (request) => {
    request.session.theme = request.params.theme;
    return { ok: true };
  });
  server.post<{ Params: { item: string } }>('/cart/:item', async (request) => {
    const cart = request.session.cart ?? [];
    await sleep(5 + (Number(request.params.item.slice(5)) % 16));
    request.session.cart = [...cart, request.params.item];
    return { ok: true };
  });
  server.get('/me', async (request) => ({
    id: request.session.sessionId,
    user: request.session.user ?? null,
    theme: request.session.theme ?? null,
    cart: request.session.cart ?? null,
  }));
  server.post('/reload', async (request) => {
    request.session.theme = 'not saved';
    await request.session.reload();
    return { theme: request.session.theme ?? null };
  });
  server.post('/logout', async (request) => {
    await request.session.destroy();
    return { ok: true };
  });
  scope.after(() => server.close());
  return server;
}

interface Me {
  id: string;
  user: string | null;
  theme: string | null;
  cart: string[] | null;
}

class Browser {
  cookie: string | null = null;
  private next = 0;
  constructor(private readonly servers: readonly FastifyInstance[]) {}

  async request<T = unknown>(method: 'GET' | 'POST', url: string): Promise<T> {
    const server = this.servers[this.next++ % this.servers.length]!;
    const response = await server.inject({
      method,
      url,
      headers: this.cookie === null ? {} : { cookie: this.cookie },
    });
    assert.equal(response.statusCode, 200, response.body);
    const set = response.cookies.find((c) => c.name === 'sessionId');
    if (set !== undefined) this.cookie = `sessionId=${set.value}`;
    return response.json<T>();
  }

  get sessionId(): string {
    const value = decodeURIComponent(this.cookie!.slice('sessionId='.length));
    return value.slice(0, value.lastIndexOf('.'));
  }
}

async function twoServers(
  options: Partial<SessionStoreOptions>,
  session?: { maxAge?: number; rolling?: boolean },
): Promise<Browser> {
  return new Browser([await app(options, session), await app(options, session)]);
}

test('login, a change, and reading both back work across two Fastify servers', async () => {
  const browser = await twoServers({ prefix: 'f-login:' });
  await browser.request('POST', '/login');
  await browser.request('POST', '/theme/dark');
  const me = await browser.request<Me>('GET', '/me');
  assert.deepEqual(me, { id: browser.sessionId, user: 'ada', theme: 'dark', cart: [] });
});

test('reload reads the stored session back, dropping the unsaved change', async () => {
  const browser = await twoServers({ prefix: 'f-reload:' });
  await browser.request('POST', '/login');
  await browser.request('POST', '/theme/light');
  assert.deepEqual(await browser.request('POST', '/reload'), { theme: 'light' });
});

test('logout deletes the session; the next request starts a fresh one', async () => {
  const browser = await twoServers({ prefix: 'f-logout:' });
  await browser.request('POST', '/login');
  const id = browser.sessionId;
  await browser.request('POST', '/logout');
  assert.equal(await client.get(`f-logout:${id}`), null);
  const me = await browser.request<Me>('GET', '/me');
  assert.equal(me.user, null);
  assert.notEqual(me.id, id);
});

test('a session expires with its cookie maxAge', async () => {
  const browser = await twoServers({ prefix: 'f-expiry:' }, { maxAge: 300 });
  await browser.request('POST', '/login');
  const key = `f-expiry:${browser.sessionId}`;
  await eventually('the session expired', async () => (await client.get(key)) === null);
  assert.equal((await browser.request<Me>('GET', '/me')).user, null);
});

test('without touch from @fastify/session, a read slides the expiry once touchAfter of the TTL passed', async () => {
  const browser = await twoServers({ prefix: 'f-slide:' }, { rolling: false });
  await browser.request('POST', '/login');
  const key = `f-slide:${browser.sessionId}`;
  // As if 50 s of the 60 had passed; the next request changes nothing, so it is not saved.
  await client.touch(key, 10_000);
  await browser.request('GET', '/me');
  const ttl = (await client.ttl(key)) as number;
  assert.ok(ttl > 50_000, `slid back to about 60 s: ttl ${ttl}`);
});

test('a tampered cookie gets a fresh session', async () => {
  const browser = await twoServers({ prefix: 'f-tamper:' });
  await browser.request('POST', '/login');
  const id = browser.sessionId;
  browser.cookie = browser.cookie!.slice(0, -3) + 'AAA';
  const me = await browser.request<Me>('GET', '/me');
  assert.equal(me.user, null);
  assert.notEqual(me.id, id);
});

test('the load token never reaches the stored session', async () => {
  const browser = await twoServers({ prefix: 'f-token:' });
  await browser.request('POST', '/login');
  await browser.request('POST', '/theme/dark');
  const stored = await client.get<Record<string, unknown>>(`f-token:${browser.sessionId}`);
  assert.equal(stored?.['theme'], 'dark');
  assert.equal(Object.hasOwn(stored!, loadedField), false);
});

test('a stored __proto__ field never becomes the prototype of the Fastify session', async () => {
  const browser = await twoServers({ prefix: 'f-proto:' });
  await browser.request('POST', '/login');
  const key = `f-proto:${browser.sessionId}`;
  // Written by other means: @fastify/session copies the data by assignment.
  const stored = await client.get<object>(key);
  await client.set(key, {
    ...stored,
    ...(JSON.parse('{"__proto__":{"user":"mallory"}}') as object),
  });
  const me = await browser.request<Me>('GET', '/me');
  assert.equal(me.id, browser.sessionId);
  assert.equal(me.user, 'ada');
  await browser.request('POST', '/theme/dark');
  assert.equal((await client.get<{ theme: string }>(key))?.theme, 'dark');
});

test('50 concurrent additions to one cart over two Fastify servers all survive', async () => {
  const browser = await twoServers({ prefix: 'f-cart:' });
  await browser.request('POST', '/login');
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => browser.request('POST', `/cart/item-${i}`)),
  );
  const cart = (await browser.request<Me>('GET', '/me')).cart!;
  assert.deepEqual([...cart].sort(), Array.from({ length: 50 }, (_, i) => `item-${i}`).sort());
});
