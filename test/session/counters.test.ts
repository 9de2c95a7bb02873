/**
 * A number listed in `counters` is merged as an increment: concurrent page-view counts all
 * count. A number not listed is set, and the last save wins.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session from 'express-session';
import { connect } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { startCluster } from '../helpers/cluster.js';
import { Browser, listen, sleep } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

test('20 concurrent increments of a counter over two web servers all count', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  const client = await connect({ seeds: nodes.map((n) => n.address) });
  t.after(() => client.close());
  const server = express();
  server.use(
    session({
      store: createExpressStore(session, { client, counters: ['views'] }),
      secret: 'counter secret',
      resave: false,
      saveUninitialized: false,
    }),
  );
  server.post('/view', async (req, res) => {
    const views = req.session.views ?? 0;
    await sleep(10);
    req.session.views = views + 1;
    res.json({ ok: true });
  });
  server.get('/views', (req, res) => res.json(req.session.views ?? null));
  const browser = new Browser([await listen(t, server), await listen(t, server)]);
  await browser.request('POST', '/view');
  await Promise.all(Array.from({ length: 20 }, () => browser.request('POST', '/view')));
  assert.equal((await browser.request('GET', '/views')).body, 21);
});
