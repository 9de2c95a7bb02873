/**
 * A number listed in `counters` is merged as an increment: concurrent page-view counts all
 * count. A number not listed is set, and the last save wins.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session from 'express-session';
import type { Client } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { Browser, listen, sleep, useSharedCluster } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    views: number;
    seenAt: number;
  }
}

let client: Client;
useSharedCluster((c) => (client = c));

function countingApp(prefix: string): express.Express {
  const server = express();
  server.use(
    session({
      store: createExpressStore(session, { client, prefix, counters: ['views'] }),
      secret: 'counter secret',
      resave: false,
      saveUninitialized: false,
    }),
  );
  server.post('/login', (req, res) => {
    req.session.seenAt = 0;
    res.json({ ok: true });
  });
  server.post('/view', async (req, res) => {
    const views = req.session.views ?? 0;
    await sleep(10);
    req.session.views = views + 1;
    res.json({ ok: true });
  });
  // Saves without waiting, then changes another field: express-session saves again at the end.
  server.post('/view-and-save', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    req.session.save();
    req.session.seenAt = Date.now();
    res.json({ ok: true });
  });
  server.get('/views', (req, res) => res.json(req.session.views ?? null));
  return server;
}

test('20 concurrent increments of a counter over two web servers all count', async (t) => {
  const server = countingApp('count:');
  const browser = new Browser([await listen(t, server), await listen(t, server)]);
  await browser.request('POST', '/view');
  await Promise.all(Array.from({ length: 20 }, () => browser.request('POST', '/view')));
  assert.equal((await browser.request('GET', '/views')).body, 21);
});

test('20 concurrent increments of a counter the session does not have yet all count', async (t) => {
  const server = countingApp('absent:');
  const browser = new Browser([await listen(t, server), await listen(t, server)]);
  await browser.request('POST', '/login');
  await Promise.all(Array.from({ length: 20 }, () => browser.request('POST', '/view')));
  assert.equal((await browser.request('GET', '/views')).body, 20);
});

test('a request that saves before the end of its handler counts its increment once', async (t) => {
  const server = countingApp('twice:');
  const browser = new Browser([await listen(t, server)]);
  await browser.request('POST', '/login');
  for (let i = 0; i < 3; i++) await browser.request('POST', '/view-and-save');
  assert.equal((await browser.request('GET', '/views')).body, 3);
});
