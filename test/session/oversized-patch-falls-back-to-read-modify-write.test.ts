/**
 * A save's patch names the elements an array lost as well as those it gained, so replacing
 * the large items of a session near the value limit makes a patch request over the frame
 * limit, which the client refuses unsent, while the session it leaves fits. The store then
 * saves through its read-modify-write, which sends only the session (src/session/merge.ts).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import session from 'express-session';
import { withNode } from '../helpers/node.js';
import { sessionAsLoaded } from './helpers.js';
import { createExpressStore } from '../../src/session/express.js';

test('a patch too large to send saves, by read-modify-write, a session that fits the value limit', async (t) => {
  const { client } = await withNode(t);
  const store = createExpressStore(session, { client });
  const cookie = { originalMaxAge: null };
  const item = (c: string): string => c.repeat(330_000);
  await store.set('big', { cookie, items: [item('a'), item('b'), item('c')] });
  const loaded = await sessionAsLoaded(store, 'big');
  loaded['items'] = [item('d'), item('e'), item('f')];
  assert.ok(JSON.stringify(loaded).length < client.limits.valueBytesMax, 'the session fits');
  await store.set('big', loaded);
  const stored = await client.get<{ items: string[] }>('sess:big');
  assert.deepEqual(
    stored?.items.map((s) => s[0]),
    ['d', 'e', 'f'],
  );
});
