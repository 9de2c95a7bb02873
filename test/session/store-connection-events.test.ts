/**
 * express-session stops using a store that emitted `disconnect` and starts again on
 * `connect`. The store emits them truthfully: `disconnect` when a call failed because no node
 * could be reached, `connect` when a node answers again, and never for a call that failed or
 * ended in this process without any node answering.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import session from 'express-session';
import { connect } from '../../src/client/index.js';
import { startNode } from '../../src/node/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { sessionAsLoaded } from './helpers.js';

test('the store emits disconnect when the cluster is out of reach and connect when it is back', async (t) => {
  const node = await startNode({ port: 0, id: 'only' });
  const client = await connect({ seeds: node.address, timeoutMs: 300, connectTimeoutMs: 200 });
  const store = createExpressStore(session, { client, probeIntervalMs: 50 });
  t.after(async () => {
    store.close();
    await client.close();
  });
  assert.equal(await store.get('nobody'), null);
  assert.equal(store.connected, true);

  await node.close();
  const disconnected = once(store, 'disconnect');
  await assert.rejects(store.get('nobody'), { code: 'TIMEOUT' });
  await disconnected;
  assert.equal(store.connected, false);

  const connected = once(store, 'connect');
  const back = await startNode({ port: node.port, id: 'back' });
  t.after(() => back.close());
  await connected;
  assert.equal(store.connected, true);
});

test('a change too large for the cluster fails the save with TOO_LARGE and the store stays connected', async (t) => {
  const node = await startNode({ port: 0, id: 'small', valueBytesMax: 4096 });
  const client = await connect({ seeds: node.address, timeoutMs: 2_000 });
  const store = createExpressStore(session, { client, probeIntervalMs: 50 });
  let disconnects = 0;
  store.on('disconnect', () => disconnects++);
  t.after(async () => {
    store.close();
    await client.close();
    await node.close();
  });
  const cookie = { originalMaxAge: 60_000, expires: null, path: '/' };
  await store.set('big', { cookie, notes: '' });
  const loaded = await sessionAsLoaded(store, 'big');
  loaded['notes'] = 'x'.repeat(100_000);
  await assert.rejects(store.set('big', loaded), { code: 'TOO_LARGE' });
  assert.equal(disconnects, 0);
  assert.equal(store.connected, true);
  assert.equal(((await store.get('big')) as { notes: string }).notes, '');
});

type Store = ReturnType<typeof createExpressStore<typeof session.Store>>;

/**
 * A store whose only node has gone, after it emitted `disconnect`; `kept` is a session it
 * loaded and saved before, as a request that was running then would hold it.
 */
async function disconnectedStore(t: { after: (fn: () => Promise<void>) => void }): Promise<{
  store: Store;
  events: string[];
  kept: object;
}> {
  const node = await startNode({ port: 0, valueBytesMax: 4096 });
  const client = await connect({ seeds: node.address, timeoutMs: 300, connectTimeoutMs: 200 });
  const store = createExpressStore(session, { client, probeIntervalMs: 50 });
  t.after(async () => {
    store.close();
    await client.close();
  });
  await store.set('kept', { cookie: { originalMaxAge: 60_000, expires: null, path: '/' } });
  const kept = await sessionAsLoaded(store, 'kept');
  await store.set('kept', kept);
  const events: string[] = [];
  store.on('connect', () => events.push('connect'));
  store.on('disconnect', () => events.push('disconnect'));
  await node.close();
  const disconnected = once(store, 'disconnect');
  await assert.rejects(store.get('nobody'), { code: 'TIMEOUT' });
  await disconnected;
  return { store, events, kept };
}

test('a save too large for the value limit, refused unsent while the cluster is out of reach, does not emit connect', async (t) => {
  const { store, events } = await disconnectedStore(t);
  const cookie = { originalMaxAge: 60_000, expires: null, path: '/' };
  await assert.rejects(store.set('big', { cookie, notes: 'x'.repeat(100_000) }), {
    code: 'TOO_LARGE',
  });
  assert.deepEqual(events, ['disconnect']);
  assert.equal(store.connected, false, 'no node answered');
});

test('a save JSON refuses (a BigInt), while the cluster is out of reach, does not emit connect', async (t) => {
  const { store, events } = await disconnectedStore(t);
  const cookie = { originalMaxAge: 60_000, expires: null, path: '/' };
  await assert.rejects(store.set('bigint', { cookie, userId: 42n }), TypeError);
  assert.deepEqual(events, ['disconnect']);
  assert.equal(store.connected, false, 'no node answered');
});

test('a save or touch with nothing to send, while the cluster is out of reach, does not emit connect', async (t) => {
  const { store, events, kept } = await disconnectedStore(t);
  await store.set('kept', kept);
  await store.touch('kept', kept);
  assert.deepEqual(events, ['disconnect']);
  assert.equal(store.connected, false, 'no node answered');
});
