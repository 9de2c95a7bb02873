import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import type { StatehouseError } from '../../src/core/errors.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';

test('with minInSync 2, a partition without a backup in sync refuses writes with UNAVAILABLE and changes nothing', async (t) => {
  const [only] = await startCluster(t, 1, { partitions: 8, minInSync: 2 });
  const client = await connect({ seeds: only!.address, timeoutMs: 500 });
  t.after(() => client.close());
  await assert.rejects(
    client.set('k', 1),
    (e: StatehouseError) => e.code === 'TIMEOUT' && /UNAVAILABLE/.test(e.message),
  );
  assert.equal(await client.get('k'), null);
});

test('with minInSync 2, writes are accepted once every partition has a backup in sync', async (t) => {
  const nodes = await startCluster(t, 2, { partitions: 8, minInSync: 2 });
  await eventually('two copies in sync everywhere', () => nodes.every((n) => converged(n, 2)));
  const client = await connect({ seeds: nodes[0]!.address, timeoutMs: 5_000 });
  t.after(() => client.close());
  for (let i = 0; i < 50; i++) await client.set(`k${i}`, i);
  for (let i = 0; i < 50; i++) assert.equal(await client.get(`k${i}`), i);
});
