/**
 * A node closes a connection on a frame over its limit (keyBytesMax + 2 × valueBytesMax + 64 KiB),
 * which fails every other request in flight on it. A patch carries values the client's own
 * value check does not see, so the client checks every request's size before it sends it.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { StatehouseError } from '../../src/core/errors.js';
import { withNode } from '../helpers/node.js';

test('a patch over the frame limit fails at once with TOO_LARGE, unsent, and the requests beside it are answered', async (t) => {
  const { client } = await withNode(t, { valueBytesMax: 4096 }, { timeoutMs: 5_000 });
  await client.set('doc', { notes: '' });
  for (let i = 0; i < 8; i++) await client.set(`k${i}`, i);
  const started = Date.now();
  const others = Array.from({ length: 8 }, (_, i) => client.get(`k${i}`));
  await assert.rejects(
    client.patch('doc', [{ op: 'set', path: 'notes', value: 'x'.repeat(100_000) }]),
    (e: StatehouseError) => e.code === 'TOO_LARGE' && !e.inDoubt && /frame limit/.test(e.message),
  );
  assert.ok(Date.now() - started < 1_000, 'refused without waiting out the call timeout');
  assert.deepEqual(await Promise.all(others), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(await client.get('doc'), { notes: '' });
});
