/**
 * The accept-loss fence, end to end (docs/design-notes.md, control/leader-grant.ts).
 *
 * With one copy per partition, a primary cut off from the rest of the cluster has no copy
 * that could vouch for it or be promoted over it, so peer leases never stop it: it goes on
 * serving the clients that still reach it. The majority declares it dead and its partitions
 * stuck; an operator who runs `accept-loss` there restarts them elsewhere. Unfenced, the
 * partition then has two primaries. Fenced, the cut-off primary stops once its leader grant
 * runs out, and accept-loss waits until that has happened: its last answer comes before the
 * new primary's first.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { partitionOf } from '../../src/core/keys.js';
import { StatehouseError } from '../../src/core/errors.js';
import { startProxiedCluster } from '../chaos/proxied-cluster.js';
import { eventually } from '../helpers/cluster.js';

const partitions = 8;

test('a fenced primary cut off with its only copy stops serving before accept-loss restarts its partition elsewhere', async (t) => {
  const { net, nodes, proxies } = await startProxiedCluster(t, 3, 120, {
    partitions,
    replicationFactor: 1,
    fence: true,
  });
  await eventually('three active members, each primary of some partitions', () => {
    const s = nodes[0]!.status();
    const active = s.members.filter((m) => m.state === 'active');
    return (
      active.length === 3 &&
      s.partitions.withoutPrimary === 0 &&
      active.every((m) => m.primaries > 0)
    );
  });
  const leader = nodes[0]!.status().leader;
  const victim = nodes.find(
    (n) =>
      n.memberId !== leader && n.status().members.find((m) => m.id === n.memberId)!.primaries > 0,
  )!;
  const victimProxy = proxies.find((p) => p.node === victim.id)!;
  const majority = await connect({
    seeds: proxies.filter((p) => p !== victimProxy).map((p) => p.address),
    timeoutMs: 5_000,
  });
  t.after(() => majority.close());
  let key = '';
  for (let i = 0; key === ''; i++) {
    await majority.set(`k${i}`, 'before');
    if (majority.primaryOf(`k${i}`) === victim.address) key = `k${i}`;
  }
  const partition = partitionOf(key, partitions);
  const stranded = await connect({ seeds: [victimProxy.address], timeoutMs: 300 });
  // A web server that reaches the victim and keeps writing to it through the cut.
  t.after(() => stranded.close());
  assert.equal(await stranded.get(key), 'before');

  let writing = true;
  let lastStrandedOk = 0;
  let strandedOks = 0;
  const refusals = new Set<string>();
  const strandedLoop = (async () => {
    for (let n = 0; writing; n++) {
      try {
        await stranded.set(key, `stranded ${n}`, { timeoutMs: 300 });
        // Refused, the client looks for a newer table on the other nodes, which it still
        // reaches: only answers from the victim count here.
        if (stranded.primaryOf(key) === victim.address) {
          lastStrandedOk = Date.now();
          strandedOks++;
        }
      } catch (error) {
        const cause = (error as StatehouseError).cause as StatehouseError | undefined;
        refusals.add(cause?.code ?? (error as StatehouseError).code);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();

  const cutAt = Date.now();
  net.cut(
    [victim.id],
    nodes.filter((n) => n !== victim).map((n) => n.id),
  );
  const survivor = nodes.find((n) => n !== victim && n.memberId === leader) ?? nodes[0]!;
  await eventually(
    'the majority holds the partition stuck',
    () => survivor.status().partitions.stuck.includes(partition),
    15_000,
  );
  const result = await majority.acceptLoss([partition], { timeoutMs: 10_000 });
  assert.deepEqual(
    result.accepted.map((a) => a.partition),
    [partition],
  );
  await majority.set(key, 'after');
  const firstNewOk = Date.now();
  // The stranded client goes on trying for a while after the new primary served.
  await new Promise((r) => setTimeout(r, 1_500));
  writing = false;
  await strandedLoop;

  t.diagnostic(
    `stranded writes: ${strandedOks} ok, the last ${lastStrandedOk - cutAt} ms into the cut; ` +
      `new primary's first write ${firstNewOk - cutAt} ms into it; refusals ${[...refusals].join(', ')}`,
  );
  assert.ok(strandedOks > 0, 'the victim served before the cut');
  assert.ok(lastStrandedOk > cutAt, 'the victim served on into the cut, until its grant ran out');
  assert.ok(
    lastStrandedOk < firstNewOk,
    `the cut-off primary answered ${lastStrandedOk - firstNewOk} ms after the new one served`,
  );
  assert.ok(refusals.has('UNAVAILABLE'), `refusals: ${[...refusals].join(', ')}`);
});
