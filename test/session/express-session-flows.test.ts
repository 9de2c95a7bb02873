/**
 * express-session with the Statehouse store, end to end on a three-node cluster: two web
 * servers, one browser whose requests alternate between them.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session from 'express-session';
import type { Client } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import type { SessionStoreOptions } from '../../src/session/engine.js';
import { eventually } from '../helpers/cluster.js';
import { Browser, useSharedCluster, listen } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    user: string;
    theme: string;
  }
}

let client: Client;
useSharedCluster((c) => (client = c));

function app(
  options: Partial<SessionStoreOptions> = {},
  cookie: session.CookieOptions = { maxAge: 60_000 },
): express.Express {
  const server = express();
  server.use(
    session({
      store: createExpressStore(session, { client, ...options }),
      secret: 'flows secret',
      resave: false,
      saveUninitialized: false,
      cookie,
    }),
  );
  server.post('/login', (req, res) => {
    req.session.user = 'ada';
    res.json({ ok: true });
  });
  server.post('/theme/:theme', (req, res) => {
    req.session.theme = req.params.theme;
    res.json({ ok: true });
  });
  server.get('/me', (req, res) => {
    res.json({
      id: req.sessionID,
      user: req.session.user ?? null,
      theme: req.session.theme ?? null,
    });
  });
  server.post('/reload', (req, res, next) => {
    req.session.theme = 'not saved';
    req.session.reload((error) => {
      if (error) return next(error);
      res.json({ theme: req.session.theme ?? null });
    });
  });
  server.post('/expire', (req, res) => {
    // Nothing else changes, so express-session touches the session rather than saving it.
    req.session.cookie.expires = new Date(Date.now() - 1_000);
    res.json({ ok: true });
  });
  server.post('/logout', (req, res, next) => {
    req.session.destroy((error) => {
      if (error) return next(error);
      res.json({ ok: true });
    });
  });
  return server;
}

async function twoServers(
  t: Parameters<typeof listen>[0],
  options: Partial<SessionStoreOptions> = {},
  cookie?: session.CookieOptions,
): Promise<Browser> {
  return new Browser([
    await listen(t, app(options, cookie)),
    await listen(t, app(options, cookie)),
  ]);
}

test('a login made on one web server is seen by the other', async (t) => {
  const browser = await twoServers(t, { prefix: 'login:' });
  await browser.request('POST', '/login');
  assert.equal(((await browser.request('GET', '/me')).body as { user: string }).user, 'ada');
});

test('a change made on one web server is seen by the other, beside the earlier ones', async (t) => {
  const browser = await twoServers(t, { prefix: 'change:' });
  await browser.request('POST', '/login');
  await browser.request('POST', '/theme/dark');
  assert.deepEqual((await browser.request('GET', '/me')).body, {
    id: browser.sessionId,
    user: 'ada',
    theme: 'dark',
  });
});

test('reload reads the stored session back, dropping the unsaved change', async (t) => {
  const browser = await twoServers(t, { prefix: 'reload:' });
  await browser.request('POST', '/login');
  await browser.request('POST', '/theme/light');
  assert.deepEqual((await browser.request('POST', '/reload')).body, { theme: 'light' });
  assert.equal(((await browser.request('GET', '/me')).body as { theme: string }).theme, 'light');
});

test('logout deletes the session; the next request starts a fresh one', async (t) => {
  const browser = await twoServers(t, { prefix: 'logout:' });
  await browser.request('POST', '/login');
  const id = browser.sessionId!;
  await browser.request('POST', '/logout');
  assert.equal(await client.get(`logout:${id}`), null);
  const me = (await browser.request('GET', '/me')).body as { id: string; user: string | null };
  assert.equal(me.user, null);
  assert.notEqual(me.id, id);
});

test('a session expires with its cookie: the store gives it the cookie maxAge as TTL', async (t) => {
  const browser = await twoServers(t, { prefix: 'expiry:' }, { maxAge: 300 });
  await browser.request('POST', '/login');
  const key = `expiry:${browser.sessionId}`;
  const ttl = await client.ttl(key);
  assert.ok(typeof ttl === 'number' && ttl > 0 && ttl <= 300, `ttl ${ttl}`);
  await eventually('the session expired', async () => (await client.get(key)) === null);
  assert.equal(((await browser.request('GET', '/me')).body as { user: null }).user, null);
});

test('with resave: false, an unchanged request leaves a fresh TTL alone', async (t) => {
  const browser = await twoServers(t, { prefix: 'fresh:' });
  await browser.request('POST', '/login');
  const key = `fresh:${browser.sessionId}`;
  // 59 s of 60 left: less than touchAfter (10%) of the TTL has passed.
  await client.touch(key, 59_000);
  await browser.request('GET', '/me');
  const ttl = (await client.ttl(key)) as number;
  assert.ok(ttl <= 59_000, `not touched: ttl ${ttl}`);
});

test('with resave: false, an unchanged request touches the session once touchAfter of the TTL passed', async (t) => {
  const browser = await twoServers(t, { prefix: 'touch:' });
  await browser.request('POST', '/login');
  const key = `touch:${browser.sessionId}`;
  // As if 50 s of the 60 had passed.
  await client.touch(key, 10_000);
  await browser.request('GET', '/me');
  const ttl = (await client.ttl(key)) as number;
  assert.ok(ttl > 50_000, `touched back to about 60 s: ttl ${ttl}`);
});

test('with resave: false, an unchanged request whose cookie already expired destroys the session', async (t) => {
  const browser = await twoServers(t, { prefix: 'touch-expired:' });
  await browser.request('POST', '/login');
  const key = `touch-expired:${browser.sessionId}`;
  assert.notEqual(await client.get(key), null);
  await browser.request('POST', '/expire');
  assert.equal(await client.get(key), null, `still stored, ttl ${await client.ttl(key)} ms`);
});

test('a tampered cookie gets a fresh session', async (t) => {
  const browser = await twoServers(t, { prefix: 'tamper:' });
  await browser.request('POST', '/login');
  const id = browser.sessionId!;
  // Same id, signature broken.
  browser.cookie = browser.cookie!.slice(0, -3) + 'AAA';
  const me = (await browser.request('GET', '/me')).body as { id: string; user: string | null };
  assert.equal(me.user, null);
  assert.notEqual(me.id, id);
});

test('a validly signed id the store does not know gets a fresh session', async (t) => {
  const browser = await twoServers(t, { prefix: 'unknown:' });
  await browser.request('POST', '/login');
  const id = browser.sessionId!;
  await client.delete(`unknown:${id}`);
  const me = (await browser.request('GET', '/me')).body as { id: string; user: string | null };
  assert.equal(me.user, null);
  assert.notEqual(me.id, id);
});

test('the key is the prefix and the whole 24-byte id express-session generated', async (t) => {
  const browser = await twoServers(t, { prefix: 'whole:' });
  await browser.request('POST', '/login');
  const id = browser.sessionId!;
  assert.match(id, /^[A-Za-z0-9_-]{32}$/);
  assert.deepEqual(await client.get<{ user: string }>(`whole:${id}`).then((v) => v?.user), 'ada');
});
