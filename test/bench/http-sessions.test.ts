/**
 * The HTTP section's harness pieces, against the shop on express-session's MemoryStore in this
 * process (no redis-server, no nodes): one session per connection made before the run, each
 * connection sending its own cookie, and the check after the run that catches a cookie the
 * shop did not accept. No figure is asserted.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import session from 'express-session';
import { checkSessions, createSessions, runCartLoad } from '../../bench/http.js';
import { createShop } from '../../examples/shop/server.js';

test('each session made before the run has a cookie of its own and one unit in its cart', async (t) => {
  const shop = await createShop({ store: new session.MemoryStore() });
  t.after(() => shop.close());
  const sessions = await createSessions(shop.url, 5);
  assert.deepEqual(
    sessions.map((s) => s.user),
    ['bench-0', 'bench-1', 'bench-2', 'bench-3', 'bench-4'],
  );
  assert.equal(new Set(sessions.map((s) => s.cookie)).size, 5);
  for (const s of sessions) assert.match(s.cookie, /^shop\.sid=s%3A/);
  await checkSessions(shop.url, sessions);
});

test('the check after the run fails for a session the shop does not know', async (t) => {
  const shop = await createShop({ store: new session.MemoryStore() });
  t.after(() => shop.close());
  const [real] = await createSessions(shop.url, 1);
  await assert.rejects(
    checkSessions(shop.url, [{ cookie: 'shop.sid=s%3Aforged.sig', user: real!.user }]),
    /session of bench-0 after the run/,
  );
});

test('a short load run sends each connection its own cookie and keeps every cart small', async (t) => {
  const store = new session.MemoryStore();
  const shop = await createShop({ store });
  t.after(() => shop.close());
  const sessions = await createSessions(shop.url, 4);
  const load = await runCartLoad(shop.url, sessions, 0.3);
  assert.ok(load.requests > 0, 'some requests were answered');
  assert.equal(load.non2xx + load.errors + load.timeouts, 0);
  await checkSessions(shop.url, sessions);
  // A request whose cookie the shop did not accept would have made a session of its own.
  const stored = await new Promise<number>((resolve, reject) =>
    store.length((error, n) => (error ? reject(error) : resolve(n ?? 0))),
  );
  assert.equal(stored, 4);
});
