import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { startNode } from '../../src/node/index.js';
import { converged, eventually, fastTiming, startCluster } from '../helpers/cluster.js';

test('after a node holding primaries stops, every acknowledged sync write is still readable', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 32 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  const client = await connect({ seeds: nodes.map((n) => n.address), timeoutMs: 10_000 });
  t.after(() => client.close());
  const written = 300;
  for (let i = 0; i < written; i++) await client.set(`session:${i}`, { i, cart: ['tea'] });
  const victim = nodes.find(
    (n) => n.status().leader !== n.memberId && n.stats().primaryEntries > 0,
  )!;
  assert.ok(victim, 'a follower holds primaries');
  await victim.close();
  const survivors = nodes.filter((n) => n !== victim);
  await eventually('the survivors took over every partition', () => {
    const s = survivors[0]!.status();
    return (
      s.partitions.withoutPrimary === 0 &&
      s.members.find((m) => m.id === victim.memberId)?.state === 'dead'
    );
  });
  for (let i = 0; i < written; i++) {
    assert.deepEqual(
      await client.get(`session:${i}`),
      { i, cart: ['tea'] },
      `session:${i} was lost`,
    );
  }
  // And the cluster heals: every partition has two copies in sync again.
  await eventually('replicated again', () => survivors.every((n) => converged(n, 2)), 20_000);
});

test('a node that joins receives the data of the partitions it takes over', async (t) => {
  const nodes = await startCluster(t, 1, { partitions: 16 });
  const client = await connect({ seeds: nodes[0]!.address, timeoutMs: 10_000 });
  t.after(() => client.close());
  for (let i = 0; i < 100; i++) await client.set(`k${i}`, i);
  const joiner = await startNode({
    port: 0,
    id: 'late',
    seeds: [nodes[0]!.address],
    ...fastTiming,
    partitions: 16,
  });
  t.after(() => joiner.close());
  await eventually(
    'two copies of everything',
    () => converged(nodes[0]!, 2) && joiner.stats().entries === 100,
    20_000,
  );
  for (let i = 0; i < 100; i++) assert.equal(await client.get(`k${i}`), i);
});
