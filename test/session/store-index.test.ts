/**
 * all(), ids(), length() and clear() need a list of sessions, and the cluster has no key scan:
 * with `index: true` the store keeps one; without it they fail with a message that says so.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import session from 'express-session';
import type { Client } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { sleep, useSharedCluster } from './helpers.js';

let client: Client;
useSharedCluster((c) => (client = c));

const cookie = { originalMaxAge: 60_000, expires: null, path: '/' };

test('with index: true, all, ids, length and clear see the sessions the store created', async () => {
  const store = createExpressStore(session, { client, prefix: 'indexed:', index: true });
  for (const id of ['s1', 's2', 's3']) await store.set(id, { cookie, user: id });
  assert.equal(await store.length(), 3);
  assert.deepEqual(await store.ids(), ['s1', 's2', 's3']);
  const all = (await store.all()) as { id: string; user: string }[];
  assert.deepEqual(all.map((s) => [s.id, s.user]).sort(), [
    ['s1', 's1'],
    ['s2', 's2'],
    ['s3', 's3'],
  ]);
  await store.destroy('s2');
  assert.deepEqual(await store.ids(), ['s1', 's3']);
  await store.clear();
  assert.equal(await store.length(), 0);
  assert.equal(await client.get('indexed:s1'), null);
});

test('a session that expired drops out of the index', async () => {
  const store = createExpressStore(session, { client, prefix: 'pruned:', index: true });
  await store.set('stays', { cookie, user: 'a' });
  await store.set('goes', { cookie, user: 'b' });
  await client.delete('pruned:goes'); // as expiry would
  assert.deepEqual(await store.ids(), ['stays']);
});

test('creating sessions prunes from the index the sessions that expired, with no listing', async () => {
  const store = createExpressStore(session, { client, prefix: 'churn:', index: true });
  const createAll = async (ids: string[], sessionCookie: object): Promise<void> => {
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => store.set(id, { cookie: sessionCookie })));
    }
  };
  const old = Array.from({ length: 1000 }, (_, i) => `old${i}`);
  const expiresSoon = new Date(Date.now() + 300).toISOString();
  await createAll(old, { originalMaxAge: 300, expires: expiresSoon, path: '/' });
  await sleep(400);
  // 2,000 more: each of the 16 index keys gets well over the 64 adds that start a pruning.
  const live = Array.from({ length: 2000 }, (_, i) => `new${i}`);
  await createAll(live, cookie);
  const indexed = async (): Promise<string[]> => {
    const ids: string[] = [];
    for (let shard = 0; shard < 16; shard++) {
      const value = await client.get<{ ids?: string[] }>(`churn:!index:${shard}`);
      ids.push(...(value?.ids ?? []));
    }
    return ids;
  };
  const deadline = Date.now() + 10_000;
  let ids = await indexed();
  while (ids.some((id) => id.startsWith('old')) && Date.now() < deadline) {
    await sleep(50);
    ids = await indexed();
  }
  assert.equal(ids.filter((id) => id.startsWith('old')).length, 0, 'no expired id is left');
  assert.deepEqual(ids.sort(), live.slice().sort(), 'every live session is still listed');
});

test('without the index, length() fails and names the option', async () => {
  const store = createExpressStore(session, { client, prefix: 'plain:' });
  await assert.rejects(store.length(), /index: true/);
  const viaCallback = await new Promise<unknown>((resolve) =>
    store.length((error) => resolve(error)),
  );
  assert.match(String(viaCallback), /index: true/);
});
