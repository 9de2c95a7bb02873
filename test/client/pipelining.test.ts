import test from 'node:test';
import assert from 'node:assert/strict';
import { withNode } from '../helpers/node.js';

test('1,000 concurrent calls share one connection and each gets its own answer', async (t) => {
  const { node, client } = await withNode(t);
  const n = 1_000;
  await Promise.all(
    Array.from({ length: n }, (_, i) => client.set(`k${i}`, { i, pad: 'x'.repeat(i % 50) })),
  );
  const values = await Promise.all(
    Array.from({ length: n }, (_, i) => client.get<{ i: number }>(`k${i}`)),
  );
  values.forEach((v, i) => assert.equal(v?.i, i));
  assert.equal(node.stats().connections, 1);
});

test('mixed operations in flight together are answered independently', async (t) => {
  const { client } = await withNode(t);
  await client.set('counter', { n: 0 });
  const results = await Promise.allSettled([
    client.patch('counter', [{ op: 'incr', path: 'n', by: 1 }]),
    client.set('exists', 1, { ifAbsent: true }),
    client.set('exists', 2, { ifAbsent: true }),
    client.get('missing'),
    client.delete('missing'),
  ]);
  assert.equal(results[0].status, 'fulfilled');
  assert.equal(results[1].status, 'fulfilled');
  assert.equal(results[2].status, 'rejected');
  assert.equal((results[2] as PromiseRejectedResult).reason.code, 'VERSION_MISMATCH');
  assert.deepEqual(results[3], { status: 'fulfilled', value: null });
  assert.deepEqual(results[4], { status: 'fulfilled', value: false });
});
