/**
 * The race this folder exists for: one user, one session, two web servers behind a
 * round-robin balancer, 50 "add to cart" requests at once. Each handler reads the cart, waits
 * for a simulated database call (5-20 ms, as real handlers do), then writes the cart with its
 * item added. A store that saves whole sessions keeps only the last writers' carts; merge on
 * save keeps every item.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session, { type Store } from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { connect } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { startCluster } from '../helpers/cluster.js';
import { Browser, listen, sleep, startRedis } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    user: string;
    cart: string[];
  }
}

const requests = 50;

function cartApp(store: Store): express.Express {
  const app = express();
  app.use(
    session({
      store,
      secret: 'race test secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  app.post('/login', (req, res) => {
    req.session.user = 'ada';
    req.session.cart = [];
    res.json({ ok: true });
  });
  app.post('/cart/:item', async (req, res) => {
    const cart = req.session.cart ?? [];
    // The simulated database call between reading the session and changing it.
    await sleep(5 + (Number(req.params.item.slice(5)) % 16));
    req.session.cart = [...cart, req.params.item];
    res.json({ ok: true });
  });
  app.get('/cart', (req, res) => {
    res.json(req.session.cart ?? null);
  });
  return app;
}

async function addConcurrently(browser: Browser): Promise<string[]> {
  await browser.request('POST', '/login');
  const replies = await Promise.all(
    Array.from({ length: requests }, (_, i) => browser.request('POST', `/cart/item-${i}`)),
  );
  assert.ok(
    replies.every((r) => r.status === 200),
    'every request was answered 200',
  );
  return (await browser.request('GET', '/cart')).body as string[];
}

test('with connect-redis, concurrent additions to one cart are lost (reported, not asserted)', async (t) => {
  const port = await startRedis(t);
  const servers: string[] = [];
  for (let i = 0; i < 2; i++) {
    const client = createClient({ url: `redis://127.0.0.1:${port}` });
    await client.connect();
    // Closed at once, not with QUIT: redis-server may already be stopped (hooks run in order).
    t.after(() => client.destroy());
    servers.push(await listen(t, cartApp(new RedisStore({ client }))));
  }
  const cart = await addConcurrently(new Browser(servers));
  t.diagnostic(`connect-redis: ${cart.length} of ${requests} items survived`);
});

test('with the Statehouse store, all 50 concurrent additions to one cart survive', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  const servers: string[] = [];
  for (let i = 0; i < 2; i++) {
    const client = await connect({ seeds: nodes.map((n) => n.address) });
    t.after(() => client.close());
    servers.push(await listen(t, cartApp(createExpressStore(session, { client }))));
  }
  const cart = await addConcurrently(new Browser(servers));
  t.diagnostic(`statehouse: ${cart.length} of ${requests} items survived`);
  assert.deepEqual(
    [...cart].sort(),
    Array.from({ length: requests }, (_, i) => `item-${i}`).sort(),
  );
});
