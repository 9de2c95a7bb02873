/**
 * A user's session outlives the state server that was its partition's primary: between two
 * requests the primary is stopped, and the next requests read and change the session through
 * the backup the cluster promoted.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session from 'express-session';
import { connect } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';
import { Browser, listen } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    user: string;
    cart: string[];
  }
}

test('a session survives the loss of its primary between two requests', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  const client = await connect({ seeds: nodes.map((n) => n.address), timeoutMs: 10_000 });
  t.after(() => client.close());
  const server = express();
  server.use(
    session({
      store: createExpressStore(session, { client }),
      secret: 'failover secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  server.post('/login', (req, res) => {
    req.session.user = 'ada';
    req.session.cart = ['tea'];
    res.json({ ok: true });
  });
  server.post('/cart/:item', (req, res) => {
    req.session.cart = [...(req.session.cart ?? []), req.params.item];
    res.json({ ok: true });
  });
  server.get('/me', (req, res) => {
    res.json({ user: req.session.user ?? null, cart: req.session.cart ?? null });
  });
  const browser = new Browser([await listen(t, server), await listen(t, server)]);
  await browser.request('POST', '/login');

  // The session is the cluster's only key: the node holding a primary entry is its primary.
  const primary = nodes.find((n) => n.stats().primaryEntries > 0);
  assert.ok(primary, 'one node is the primary of the session');
  await primary.close();

  assert.deepEqual((await browser.request('GET', '/me')).body, { user: 'ada', cart: ['tea'] });
  assert.equal((await browser.request('POST', '/cart/jam')).status, 200);
  assert.deepEqual((await browser.request('GET', '/me')).body, {
    user: 'ada',
    cart: ['tea', 'jam'],
  });
});
