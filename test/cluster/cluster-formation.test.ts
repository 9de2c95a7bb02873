import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';

test('a founder and two joiners form one cluster with three voters and a balanced table', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 64 });
  await eventually(
    'three voters and a converged table',
    () =>
      nodes.every((n) => converged(n, 3)) &&
      nodes[0]!.status().members.filter((m) => m.role === 'voter').length === 3,
  );
  const status = nodes[2]!.status();
  assert.equal(new Set(nodes.map((n) => n.status().clusterId)).size, 1);
  assert.ok(status.leader !== null);
  const primaries = status.members.map((m) => m.primaries);
  const copies = status.members.map((m) => m.copies);
  assert.ok(Math.max(...primaries) - Math.min(...primaries) <= 1, `primaries ${primaries}`);
  assert.ok(Math.max(...copies) - Math.min(...copies) <= 1, `copies ${copies}`);
  assert.equal(
    copies.reduce((a, b) => a + b, 0),
    64 * 2,
  );
});

test('every node agrees on the partition table', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 32 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  await eventually(
    'same table version everywhere',
    () => new Set(nodes.map((n) => n.status().tableVersion)).size === 1,
  );
  const [a, b, c] = nodes.map((n) =>
    JSON.stringify(n.status().members.map((m) => [m.id, m.primaries, m.copies])),
  );
  assert.equal(a, b);
  assert.equal(b, c);
});

test('a client connected to one node reaches the primaries of every partition', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 32 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  const client = await connect({ seeds: nodes[1]!.address });
  t.after(() => client.close());
  for (let i = 0; i < 200; i++) await client.set(`key:${i}`, i);
  for (let i = 0; i < 200; i++) assert.equal(await client.get(`key:${i}`), i);
  const served = nodes.map((n) => n.stats().primaryEntries);
  assert.ok(
    served.every((e) => e > 0),
    `entries per node: ${served}`,
  );
  assert.equal(
    served.reduce((a, b) => a + b, 0),
    200,
  );
  // Every write also reached its partition's backup (replication factor 2).
  await eventually(
    'every copy written',
    () => nodes.reduce((sum, n) => sum + n.stats().entries, 0) === 400,
  );
});

test('a client with a stale table is redirected by NOT_PRIMARY and still succeeds', async (t) => {
  const nodes = await startCluster(t, 1, { partitions: 16 });
  const client = await connect({ seeds: nodes[0]!.address });
  t.after(() => client.close());
  await client.set('before', 1);
  const { startNode } = await import('../../src/node/index.js');
  const joiner = await startNode({
    port: 0,
    id: 'late',
    seeds: [nodes[0]!.address],
    tickMs: 20,
    failureTimeoutMs: 600,
    partitions: 16,
  });
  t.after(() => joiner.close());
  await eventually(
    'the joiner holds primaries',
    () => joiner.status().members.find((m) => m.name === 'late')!.primaries > 0,
  );
  // The client's table predates the join; writes to partitions that moved get redirected.
  for (let i = 0; i < 100; i++) await client.set(`after:${i}`, i);
  // Some of those writes landed on partitions the joiner now leads: the redirects worked.
  assert.ok(joiner.stats().primaryEntries > 0);
});

test('a linearizable status from a follower includes everything committed before it was asked', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  const leader = nodes.find((n) => n.status().leader === n.memberId)!;
  const follower = nodes.find((n) => n !== leader)!;
  const client = await connect({ seeds: follower.address });
  t.after(() => client.close());
  const committedBefore = leader.status().commit;
  const status = await client.clusterStatus({ linearizable: true });
  assert.equal(status.self, follower.memberId);
  assert.ok(status.applied >= committedBefore, `applied ${status.applied} < ${committedBefore}`);
});
