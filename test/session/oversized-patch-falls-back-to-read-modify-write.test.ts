/**
 * A save's patch names the elements an array lost as well as those it gained, so replacing
 * the large items of a session near the value limit makes a patch request over the frame
 * limit, which the client refuses unsent, while the session it leaves fits. The store then
 * saves through its read-modify-write, which sends only the session (src/session/merge.ts).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import session from 'express-session';
import { connect } from '../../src/client/index.js';
import { startNode } from '../../src/node/index.js';
import { createExpressStore } from '../../src/session/express.js';

test('a patch too large to send saves, by read-modify-write, a session that fits the value limit', async (t) => {
  const node = await startNode({ port: 0 });
  const client = await connect({ seeds: node.address });
  t.after(async () => {
    await client.close();
    await node.close();
  });
  const store = createExpressStore(session, { client });
  const cookie = { originalMaxAge: null };
  const item = (c: string): string => c.repeat(330_000);
  await store.set('big', { cookie, items: [item('a'), item('b'), item('c')] });
  const loaded = store.createSession(
    { sessionID: 'big', sessionStore: store } as never,
    (await store.get('big')) as never,
  ) as unknown as Record<string, unknown>;
  loaded['items'] = [item('d'), item('e'), item('f')];
  assert.ok(JSON.stringify(loaded).length < client.limits.valueBytesMax, 'the session fits');
  await store.set('big', loaded);
  const stored = await client.get<{ items: string[] }>('sess:big');
  assert.deepEqual(
    stored?.items.map((s) => s[0]),
    ['d', 'e', 'f'],
  );
});
