/**
 * The serializer decides how a session becomes the stored document and back: here a Date
 * field is stored as a number and read back as a Date. The default one is a JSON round trip,
 * down to a field named `__proto__`. One that hands back the session's own objects still has
 * every change saved.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session from 'express-session';
import { withNode } from '../helpers/node.js';
import { createExpressStore } from '../../src/session/express.js';
import { Browser, listen, sessionAsLoaded } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    cart: string[];
  }
}

test('a custom serializer shapes the stored document and the data handed back', async (t) => {
  const { client } = await withNode(t);
  const store = createExpressStore(session, {
    client,
    serializer: {
      serialize: (s) => {
        const { at, ...rest } = s as { at: Date };
        return { ...(JSON.parse(JSON.stringify(rest)) as object), at: at.getTime() };
      },
      deserialize: (doc) => ({ ...doc, at: new Date(doc['at'] as number) }),
    },
  });
  await store.set('s1', { cookie: { originalMaxAge: null }, at: new Date(86_400_000) });
  assert.deepEqual(await client.get('sess:s1'), {
    cookie: { originalMaxAge: null },
    at: 86_400_000,
  });
  const data = (await store.get('s1')) as { at: Date };
  assert.ok(data.at instanceof Date);
  assert.equal(data.at.getTime(), 86_400_000);
});

test('with the default serializer, a field named __proto__ is read back under its own name, and never as a prototype', async (t) => {
  const { client } = await withNode(t);
  const store = createExpressStore(session, { client });
  const cookie = { originalMaxAge: null };
  // As an application gets it from req.session.prefs = JSON.parse(req.body).
  const prefs = (): Record<string, unknown> =>
    JSON.parse('{"__proto__":{"admin":true},"theme":"dark"}') as Record<string, unknown>;
  async function prefsSavedOver(id: string, before: object | null): Promise<unknown> {
    if (before !== null) await store.set(id, { cookie, ...before });
    const loaded = await sessionAsLoaded(store, id, before === null ? { cookie } : undefined);
    loaded['prefs'] = prefs();
    await store.set(id, loaded);
    const read = (await store.get(id)) as { prefs: object };
    assert.equal(Object.getPrototypeOf(read.prefs), Object.prototype);
    return read.prefs;
  }
  // A new session (set ifAbsent); a new field of a stored one (a patch); a changed field of a
  // stored one (the read-modify-write, since a patch path cannot name __proto__).
  assert.deepEqual(await prefsSavedOver('proto-new', null), prefs());
  assert.deepEqual(await prefsSavedOver('proto-added', {}), prefs());
  assert.deepEqual(await prefsSavedOver('proto-changed', { prefs: { theme: 'dark' } }), prefs());
  assert.equal(({} as Record<string, unknown>)['admin'], undefined);
});

test("a serializer that returns the session's own objects still has a change made after req.session.save() saved", async (t) => {
  const { client } = await withNode(t);
  const store = createExpressStore(session, {
    client,
    prefix: 'alias:',
    serializer: {
      // Keeps only the cookie and the cart: the cart array itself.
      serialize: (s) => {
        const { cookie, cart } = s as { cookie: object; cart?: string[] };
        return { cookie: JSON.parse(JSON.stringify(cookie)) as object, cart: cart ?? [] };
      },
      deserialize: (doc) => doc,
    },
  });
  const server = express();
  server.use(
    session({
      store,
      secret: 's',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  server.post('/start', (req, res) => {
    req.session.cart = ['tea'];
    res.json({ ok: true });
  });
  server.post('/add', (req, res, next) => {
    req.session.cart!.push('jam');
    req.session.save((error) => {
      if (error) return next(error);
      // Saved again by express-session at the end of the request.
      req.session.cart!.push('egg');
      res.json({ ok: true });
    });
  });
  const browser = new Browser([await listen(t, server)]);
  await browser.request('POST', '/start');
  await browser.request('POST', '/add');
  const stored = await client.get<{ cart: string[] }>(`alias:${browser.sessionId}`);
  assert.deepEqual(stored?.cart, ['tea', 'jam', 'egg']);
});
