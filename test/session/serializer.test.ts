/**
 * The serializer decides how a session becomes the stored document and back: here a Date
 * field is stored as a number and read back as a Date. The default one is a JSON round trip,
 * down to a field named `__proto__`.
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

test('with the default serializer, a field named __proto__ is read back under its own name, and never as a prototype', async (t) => {
  const node = await startNode({ port: 0 });
  const client = await connect({ seeds: node.address });
  t.after(async () => {
    await client.close();
    await node.close();
  });
  const store = createExpressStore(session, { client });
  const cookie = { originalMaxAge: null };
  // As an application gets it from req.session.prefs = JSON.parse(req.body).
  const prefs = (): Record<string, unknown> =>
    JSON.parse('{"__proto__":{"admin":true},"theme":"dark"}') as Record<string, unknown>;
  async function prefsSavedOver(id: string, before: object | null): Promise<unknown> {
    if (before !== null) await store.set(id, { cookie, ...before });
    const data = before === null ? { cookie } : await store.get(id);
    const loaded = store.createSession(
      { sessionID: id, sessionStore: store } as never,
      data as never,
    ) as unknown as Record<string, unknown>;
    loaded['prefs'] = prefs();
    await store.set(id, loaded);
    const read = (await store.get(id)) as { prefs: object };
    assert.equal(Object.getPrototypeOf(read.prefs), Object.prototype);
    return read.prefs;
  }
  // A new session (set ifAbsent); a new field of a stored one (a patch); a changed field of a
  // stored one (the read-modify-write, since a patch path cannot name __proto__).
  assert.deepEqual(await prefsSavedOver('proto-new', null), prefs());
  assert.deepEqual(await prefsSavedOver('proto-added', {}), prefs());
  assert.deepEqual(await prefsSavedOver('proto-changed', { prefs: { theme: 'dark' } }), prefs());
  assert.equal(({} as Record<string, unknown>)['admin'], undefined);
});
