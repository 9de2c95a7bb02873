/**
 * The serializer decides how a session becomes the stored document and back: here a Date
 * field is stored as a number and read back as a Date.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import session from 'express-session';
import { connect } from '../../src/client/index.js';
import { startNode } from '../../src/node/index.js';
import { createExpressStore } from '../../src/session/express.js';

test('a custom serializer shapes the stored document and the data handed back', async (t) => {
  const node = await startNode({ port: 0 });
  const client = await connect({ seeds: node.address });
  t.after(async () => {
    await client.close();
    await node.close();
  });
  const store = createExpressStore(session, {
    client,
    serializer: {
      serialize: (s) => {
        const { at, ...rest } = s as { at: Date };
        return { ...(JSON.parse(JSON.stringify(rest)) as object), at: at.getTime() };
      },
      deserialize: (doc) => ({ ...doc, at: new Date(doc['at'] as number) }),
    },
  });
  await store.set('s1', { cookie: { originalMaxAge: null }, at: new Date(86_400_000) });
  assert.deepEqual(await client.get('sess:s1'), {
    cookie: { originalMaxAge: null },
    at: 86_400_000,
  });
  const data = (await store.get('s1')) as { at: Date };
  assert.ok(data.at instanceof Date);
  assert.equal(data.at.getTime(), 86_400_000);
});
