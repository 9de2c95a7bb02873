import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import type { StatehouseError } from '../../src/core/errors.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';

/** Writes and reads in a loop until stopped; counts what succeeded and what failed. */
function steadyLoad(client: Awaited<ReturnType<typeof connect>>, callers: number) {
  let running = true;
  const failures: string[] = [];
  const acknowledged = new Map<string, number>();
  let ops = 0;
  const loops = Array.from({ length: callers }, async (_, c) => {
    for (let i = 0; running; i++) {
      const key = `drain:${c}:${i % 50}`;
      try {
        await client.set(key, i);
        acknowledged.set(key, i);
        const read = await client.get(key);
        if (read !== i) failures.push(`${key}: read ${String(read)} after writing ${i}`);
        ops += 2;
      } catch (error) {
        failures.push(`${(error as StatehouseError).code}: ${(error as Error).message}`);
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { failures, acknowledged, ops };
    },
  };
}

test('draining a node under load fails no request and loses no write', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 32 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  const client = await connect({ seeds: nodes.map((n) => n.address), timeoutMs: 10_000 });
  t.after(() => client.close());
  const load = steadyLoad(client, 8);
  await new Promise((r) => setTimeout(r, 300));
  const leaving = nodes.find((n) => n.status().leader !== n.memberId)!;
  await leaving.drain();
  const stayed = nodes.filter((n) => n !== leaving);
  await new Promise((r) => setTimeout(r, 300));
  const { failures, acknowledged, ops } = await load.stop();
  t.diagnostic(`${ops} operations during the drain`);
  assert.deepEqual(failures, []);
  assert.ok(ops > 0);
  const status = stayed[0]!.status();
  assert.equal(
    status.members.find((m) => m.id === leaving.memberId),
    undefined,
    'the drained node left the cluster',
  );
  await eventually('two copies of everything on the two left', () =>
    stayed.every((n) => converged(n, 2)),
  );
  for (const [key, value] of acknowledged) assert.equal(await client.get(key), value, key);
});

test('the control-plane leader can drain itself: it hands leadership over first', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  const leader = nodes.find((n) => n.status().leader === n.memberId)!;
  await leader.drain();
  const stayed = nodes.filter((n) => n !== leader);
  await eventually('a new leader, and the old one gone', () => {
    const s = stayed[0]!.status();
    return (
      s.leader !== null &&
      s.leader !== leader.memberId &&
      s.members.every((m) => m.id !== leader.memberId)
    );
  });
  await eventually('converged on two', () => stayed.every((n) => converged(n, 2)));
});
