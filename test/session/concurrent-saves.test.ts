/**
 * What overlapping requests of one session end with. Each test holds one request inside its
 * handler (it has loaded the session) while another request runs to completion, then lets the
 * first one finish and save. Two web servers, one store each, a three-node cluster.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import session from 'express-session';
import type { Client } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { Browser, useSharedCluster, Gate, listen } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    user: string;
    fields: Record<string, string>;
  }
}

let client: Client;
useSharedCluster((c) => (client = c));

function app(prefix: string, gates: Map<string, Gate>): express.Express {
  const server = express();
  server.use(
    session({
      store: createExpressStore(session, { client, prefix }),
      secret: 'concurrency secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  server.post('/login', (req, res) => {
    req.session.user = 'ada';
    res.json({ ok: true });
  });
  // Sets one top-level field, after waiting at the named gate if there is one.
  server.post('/set/:field/:value', async (req, res) => {
    await gates.get(req.params.field + '=' + req.params.value)?.pass();
    (req.session as unknown as Record<string, string>)[req.params.field] = req.params.value;
    res.json({ ok: true });
  });
  // Saves after waiting at the 'step' gate, then changes the session again, so that
  // express-session saves it a second time at the end of the request.
  server.post('/step', async (req, res, next) => {
    await gates.get('step')?.pass();
    (req.session as unknown as Record<string, number>)['step'] = 1;
    req.session.save((error) => {
      if (error) return next(error);
      (req.session as unknown as Record<string, number>)['step'] = 2;
      res.json({ ok: true });
    });
  });
  server.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })));
  });
  server.get('/me', (req, res) => {
    res.json({ ...req.session, id: req.sessionID, cookie: undefined });
  });
  return server;
}

async function setup(
  t: Parameters<typeof listen>[0],
  prefix: string,
): Promise<{ browser: Browser; gates: Map<string, Gate> }> {
  const gates = new Map<string, Gate>();
  const browser = new Browser([
    await listen(t, app(prefix, gates)),
    await listen(t, app(prefix, gates)),
  ]);
  await browser.request('POST', '/login');
  return { browser, gates };
}

/** Starts `held` and waits until its handler runs; resolves to a function that finishes it. */
async function hold(
  browser: Browser,
  gates: Map<string, Gate>,
  field: string,
  value: string,
): Promise<() => Promise<void>> {
  const gate = new Gate();
  gates.set(`${field}=${value}`, gate);
  const reply = browser.request('POST', `/set/${field}/${value}`);
  await gate.arrived;
  return async () => {
    gate.release();
    assert.equal((await reply).status, 200);
  };
}

test('logout wins over a request that loaded the session before it and saves after it', async (t) => {
  const { browser, gates } = await setup(t, 'destroy:');
  const id = browser.sessionId!;
  const finish = await hold(browser, gates, 'theme', 'dark');
  await browser.request('POST', '/logout');
  await finish();
  assert.equal(await client.get(`destroy:${id}`), null, 'the destroyed session did not come back');
});

test('logout wins over a request that saves twice after it', async (t) => {
  const { browser, gates } = await setup(t, 'destroy-twice:');
  const id = browser.sessionId!;
  const gate = new Gate();
  gates.set('step', gate);
  const reply = browser.request('POST', '/step');
  await gate.arrived;
  await browser.request('POST', '/logout');
  gate.release();
  assert.equal((await reply).status, 200);
  assert.equal(
    await client.get(`destroy-twice:${id}`),
    null,
    'the second save did not bring the destroyed session back',
  );
});

test('two requests that change different fields both keep their change', async (t) => {
  const { browser, gates } = await setup(t, 'fields:');
  const finish = await hold(browser, gates, 'theme', 'dark');
  await browser.request('POST', '/set/lang/fr');
  await finish();
  const me = (await browser.request('GET', '/me')).body as Record<string, string>;
  assert.equal(me['theme'], 'dark');
  assert.equal(me['lang'], 'fr');
  assert.equal(me['user'], 'ada');
});

test('two requests that change the same field end with the one that saved last', async (t) => {
  const { browser, gates } = await setup(t, 'same:');
  const finish = await hold(browser, gates, 'theme', 'dark');
  await browser.request('POST', '/set/theme/light');
  await finish();
  const me = (await browser.request('GET', '/me')).body as Record<string, string>;
  assert.equal(me['theme'], 'dark');
});
