/**
 * With lock: true, the lock is renewed while its request runs, and a lock that is lost says
 * so: the store emits `lockLost`, and the save of the request that lost it is refused with
 * LOCK_LOST and writes nothing (src/session/engine.ts, "Renewal" and "A lost lock").
 *
 * No assertion measures time. The tests wait for things to happen (a renewal, seen as the
 * lock's expiry moving on; a `lockLost` event) and check the order in which they happened.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import express from 'express';
import session from 'express-session';
import type { Client, Entry } from '../../src/client/index.js';
import { createExpressStore, type ExpressStoreMethods } from '../../src/session/express.js';
import type { SessionStoreOptions } from '../../src/session/engine.js';
import { Browser, useSharedCluster, Gate, listen, sleep } from './helpers.js';
import { countingApp } from './counting-app.js';

/** Only against a hang: every wait below ends within a few renewals (seconds) when it works. */
const waitLimitMs = 60_000;

let client: Client;
useSharedCluster((c) => (client = c));

type Store = session.Store & ExpressStoreMethods;
type LockValue = { holder: string; token: number };

function lockOf(prefix: string, id: string): Promise<Entry<LockValue> | null> {
  return client.getEntry<LockValue>(`${prefix}!lock:${id}`);
}

/** Waits until `holds` is true, checking every few milliseconds. */
async function until(holds: () => Promise<boolean>): Promise<void> {
  while (!(await holds())) await sleep(10);
}

/** Waits until the lock's expiry has moved past `expiresAt`: it was renewed. */
async function renewedPast(prefix: string, id: string, expiresAt: number): Promise<void> {
  await until(async () => ((await lockOf(prefix, id))?.expiresAt ?? 0) > expiresAt);
}

/** A session of `prefix` holding `{ count: 1 }`, loaded by `store` as express-session would. */
async function loadedSession(
  store: Store,
  prefix: string,
  id: string,
): Promise<Record<string, unknown>> {
  await client.set(`${prefix}${id}`, { cookie: { originalMaxAge: null }, count: 1 });
  // The parts of a request express-session's createSession uses.
  const req = { sessionID: id } as unknown as express.Request;
  const data = (await store.get(id)) as unknown as session.SessionData;
  store.createSession(req, data);
  return req.session as unknown as Record<string, unknown>;
}

/** What another request does once it has the lock that `id`'s first holder lost. */
async function anotherRequestTakesTheLock(prefix: string, id: string): Promise<void> {
  await client.delete(`${prefix}!lock:${id}`);
  await client.set(
    `${prefix}!lock:${id}`,
    { holder: 'another web server', token: 1 },
    { ifAbsent: true, ttlMs: 60_000 },
  );
  await client.patch(`${prefix}${id}`, [{ op: 'set', path: 'by', value: 'the other request' }]);
}

test(
  'a request that runs longer than the lock TTL keeps its lock, and a second request waits',
  { timeout: waitLimitMs },
  async (t) => {
    const prefix = 'renew-long:';
    const options: Partial<SessionStoreOptions> = { prefix, lock: { ttlMs: 1_000 } };
    const log: string[] = [];
    const gates = new Map([['a', new Gate()]]);
    const browser = new Browser([
      await listen(t, countingApp(createExpressStore(session, { client, ...options }), log, gates)),
      await listen(t, countingApp(createExpressStore(session, { client, ...options }), log, gates)),
    ]);
    await browser.request('POST', '/step/login');
    const id = browser.sessionId!;
    log.length = 0;

    const a = browser.request('POST', '/step/a');
    await gates.get('a')!.arrived;
    const taken = (await lockOf(prefix, id))!;
    // Renewed at least one TTL after it was taken: a has held it longer than its TTL.
    await renewedPast(prefix, id, taken.expiresAt + 1_000 - 1);
    const b = browser.request('POST', '/step/b');
    // One more renewal while b is on its way: b had time to overtake, were it not waiting.
    await renewedPast(prefix, id, (await lockOf(prefix, id))!.expiresAt);
    assert.deepEqual((await lockOf(prefix, id))!.value, taken.value, 'a still holds its lock');
    assert.deepEqual(log, ['a starts, count 1']);

    gates.get('a')!.release();
    assert.equal((await a).status, 200);
    assert.equal((await b).status, 200);
    assert.deepEqual(log, ['a starts, count 1', 'a ends', 'b starts, count 2', 'b ends']);
  },
);

test(
  'a crashed holder stops renewing, and its lock expires for the next request',
  { timeout: waitLimitMs },
  async (t) => {
    const prefix = 'renew-crash:';
    const options: Partial<SessionStoreOptions> = { prefix, lock: { ttlMs: 1_000 } };
    const log: string[] = [];
    const browser = new Browser([
      await listen(
        t,
        countingApp(createExpressStore(session, { client, ...options }), log, new Map()),
      ),
    ]);
    await browser.request('POST', '/step/login');
    const id = browser.sessionId!;
    const crashed = createExpressStore(session, { client, ...options });
    await crashed.get(id);
    const taken = (await lockOf(prefix, id))!;
    await renewedPast(prefix, id, taken.expiresAt);
    // The web server dies: a closed store renews nothing more.
    crashed.close();

    const reply = await browser.request('POST', '/step/after-crash');
    assert.equal(reply.status, 200);
    assert.deepEqual(log, [
      'login starts, count 0',
      'login ends',
      'after-crash starts, count 1',
      'after-crash ends',
    ]);
    assert.equal((await client.get<{ count: number }>(`${prefix}${id}`))?.count, 2);
  },
);

test(
  'a lock lost while its request runs is reported, and that request saves nothing',
  { timeout: waitLimitMs },
  async () => {
    const prefix = 'renew-lost:';
    const store = createExpressStore(session, { client, prefix, lock: { ttlMs: 1_000 } });
    const lost = once(store, 'lockLost');
    const sess = await loadedSession(store, prefix, 'lost-1');

    await anotherRequestTakesTheLock(prefix, 'lost-1');
    assert.deepEqual(await lost, ['lost-1'], 'a renewal found the lock taken');
    sess['count'] = 2;
    await assert.rejects(store.set('lost-1', sess), { code: 'LOCK_LOST' });

    const stored = await client.get<Record<string, unknown>>(`${prefix}lost-1`);
    assert.equal(stored?.['count'], 1, 'the request that lost its lock wrote nothing');
    assert.equal(stored?.['by'], 'the other request');
    assert.equal((await lockOf(prefix, 'lost-1'))?.value.holder, 'another web server');
  },
);

test(
  'a save whose lock was lost before any renewal noticed is refused by the session version',
  { timeout: waitLimitMs },
  async () => {
    const prefix = 'renew-fence:';
    // A TTL so long that no renewal happens during the test: only the save can notice.
    const store = createExpressStore(session, { client, prefix, lock: { ttlMs: 600_000 } });
    const lost = once(store, 'lockLost');
    const sess = await loadedSession(store, prefix, 'fence-1');

    await anotherRequestTakesTheLock(prefix, 'fence-1');
    sess['count'] = 2;
    await assert.rejects(store.set('fence-1', sess), { code: 'LOCK_LOST' });
    assert.deepEqual(await lost, ['fence-1']);

    const stored = await client.get<Record<string, unknown>>(`${prefix}fence-1`);
    assert.equal(stored?.['count'], 1);
    assert.equal(stored?.['by'], 'the other request');
  },
);

test(
  'a lock held past lock.holdMsMax is let go, and its request saves nothing',
  { timeout: waitLimitMs },
  async () => {
    const prefix = 'renew-cap:';
    const store = createExpressStore(session, {
      client,
      prefix,
      lock: { ttlMs: 300, holdMsMax: 300 },
    });
    const lost = once(store, 'lockLost');
    const sess = await loadedSession(store, prefix, 'cap-1');

    assert.deepEqual(await lost, ['cap-1']);
    sess['count'] = 2;
    await assert.rejects(store.set('cap-1', sess), { code: 'LOCK_LOST' });
    assert.equal((await client.get<{ count: number }>(`${prefix}cap-1`))?.count, 1);
  },
);

test(
  'a request that lost its lock cannot save by trying again',
  { timeout: waitLimitMs },
  async () => {
    const prefix = 'renew-again:';
    const store = createExpressStore(session, { client, prefix, lock: { ttlMs: 600_000 } });
    const sess = await loadedSession(store, prefix, 'again-1');

    await anotherRequestTakesTheLock(prefix, 'again-1');
    sess['count'] = 2;
    await assert.rejects(store.set('again-1', sess), { code: 'LOCK_LOST' });
    await assert.rejects(store.set('again-1', sess), { code: 'LOCK_LOST' });
    assert.equal((await client.get<{ count: number }>(`${prefix}again-1`))?.count, 1);
  },
);

test(
  'a session destroyed while a locked request runs stays destroyed, and no lock is lost',
  { timeout: waitLimitMs },
  async () => {
    const prefix = 'renew-destroyed:';
    const store = createExpressStore(session, { client, prefix, lock: { ttlMs: 600_000 } });
    const events: string[] = [];
    store.on('lockLost', () => events.push('lockLost'));
    store.on('dropped', () => events.push('dropped'));
    const sess = await loadedSession(store, prefix, 'destroyed-1');

    await client.delete(`${prefix}destroyed-1`);
    sess['count'] = 2;
    await store.set('destroyed-1', sess);
    assert.equal(await client.get(`${prefix}destroyed-1`), null);
    assert.deepEqual(events, ['dropped']);
    assert.equal(await lockOf(prefix, 'destroyed-1'), null, 'the save released the lock');
  },
);
