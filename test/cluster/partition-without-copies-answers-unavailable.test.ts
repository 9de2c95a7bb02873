import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Client } from '../../src/client/index.js';
import type { StateNode } from '../../src/node/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';
import { holdersOf } from '../helpers/holders.js';
import { keyPerPartition } from '../helpers/load.js';

/**
 * Five in-process nodes, 16 partitions; a key written to a partition whose two copies are
 * both off the Raft leader with at most one of them a voter (so the control plane keeps a
 * quorum and goes on deciding); `before` runs, then both holders stop and the survivors
 * declare them dead.
 */
async function loseBothCopies(
  t: TestContext,
  before: (client: Client, keys: string[], holders: string[][], lost: number) => Promise<void>,
): Promise<{
  client: Client;
  keys: string[];
  lost: number;
  victims: StateNode[];
  survivor: StateNode;
}> {
  const nodes = await startCluster(t, 5, { partitions: 16 });
  await eventually('converged', () => nodes.every((n) => converged(n, 5)), 30_000);
  const status = nodes[0]!.status();
  const voters = new Set(status.members.filter((m) => m.role === 'voter').map((m) => m.name));
  const leader = status.members.find((m) => m.id === status.leader)!.name;
  const keys = keyPerPartition(16, 'k');
  const holders = await holdersOf(nodes, keys);
  const lost = holders.findIndex(
    (h) => h.length === 2 && !h.includes(leader) && h.filter((n) => voters.has(n)).length <= 1,
  );
  assert.notEqual(lost, -1, 'a partition with both copies off the leader and a voter');
  const client = await connect({ seeds: nodes.map((n) => n.address), timeoutMs: 5_000 });
  t.after(() => client.close());
  await client.set(keys[lost]!, 'acknowledged');
  await before(client, keys, holders, lost);

  const victims = nodes.filter((n) => holders[lost]!.includes(n.id));
  await Promise.all(victims.map((n) => n.close()));
  const survivor = nodes.find((n) => !victims.includes(n))!;
  await eventually(
    'both declared dead',
    () =>
      victims.every(
        (v) => survivor.status().members.find((m) => m.id === v.memberId)?.state === 'dead',
      ),
    30_000,
  );
  return { client, keys, lost, victims, survivor };
}

// Found by primary-and-backup-lost.test.ts: a partition whose primary and only in-sync
// backup both died keeps the dead primary named in the table (nothing may be promoted), and
// the nodes kept sending clients to its dead address: clients got CONNECTION_CLOSED until
// their deadline instead of UNAVAILABLE, and `status` said health 'ok', counting the dead
// copies as a primary and as in sync.
test('a partition whose primary and only in-sync backup are gone answers UNAVAILABLE and the status says unavailable', async (t) => {
  const { client, keys, lost, survivor } = await loseBothCopies(t, async () => undefined);
  await assert.rejects(client.get(keys[lost]!, { timeoutMs: 1_000 }), (e: StatehouseError) => {
    assert.equal(e.code, 'TIMEOUT');
    assert.equal((e.cause as StatehouseError | undefined)?.code, 'UNAVAILABLE', e.message);
    return true;
  });
  await eventually('the status counts the partition as without a primary', () => {
    const s = survivor.status();
    return s.health === 'unavailable' && s.partitions.withoutPrimary >= 1;
  });
});

test('an operator who accepts the loss gets the stuck partition back empty, taking writes, and nothing else changes', async (t) => {
  let other = -1;
  const { client, keys, lost, victims, survivor } = await loseBothCopies(
    t,
    async (c, k, holders, lostPartition) => {
      other = k.findIndex((_, p) => !holders[p]!.every((n) => holders[lostPartition]!.includes(n)));
      await c.set(k[other]!, 'kept');
    },
  );
  await eventually(
    'the partition is stuck',
    () => survivor.status().partitions.stuck.includes(lost),
    30_000,
  );

  // Naming a partition that is not stuck is refused and changes nothing.
  const refused = await client.acceptLoss([other]);
  assert.deepEqual(refused.accepted, []);
  assert.equal(refused.refused[0]?.partition, other);

  const result = await client.acceptLoss();
  assert.ok(
    result.accepted.some((a) => a.partition === lost),
    JSON.stringify(result),
  );
  assert.ok(result.accepted.every((a) => !victims.some((v) => v.memberId === a.primary)));
  // The data is gone, and the partition says so instead of answering UNAVAILABLE forever.
  assert.equal(await client.get(keys[lost]!), null);
  await client.set(keys[lost]!, 'after');
  assert.equal(await client.get(keys[lost]!), 'after');
  assert.equal(await client.get(keys[other]!), 'kept');
  await eventually('nothing is stuck', () => survivor.status().partitions.stuck.length === 0);
});
