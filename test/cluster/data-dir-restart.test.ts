import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode } from '../../src/node/index.js';
import type { StatehouseError } from '../../src/core/errors.js';
import { converged, eventually, fastTiming, startCluster } from '../helpers/cluster.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a node restarted on its data dir resumes the same member id in the same cluster', async (t) => {
  const dir = tempDir(t);
  const first = await startNode({ port: 0, id: 'solo', dataDir: dir, ...fastTiming });
  const { memberId, clusterId } = { memberId: first.memberId, clusterId: first.status().clusterId };
  const port = first.port;
  await first.close();
  const again = await startNode({ port, id: 'solo', dataDir: dir, ...fastTiming });
  t.after(() => again.close());
  assert.equal(again.memberId, memberId);
  assert.equal(again.status().clusterId, clusterId);
  await eventually('it leads its cluster again', () => again.status().leader === memberId);
});

test('a second process on a data dir in use is refused with DATA_DIR_LOCKED', async (t) => {
  const dir = tempDir(t);
  const first = await startNode({ port: 0, id: 'a', dataDir: dir, ...fastTiming });
  t.after(() => first.close());
  await assert.rejects(
    startNode({ port: 0, id: 'a', dataDir: dir, ...fastTiming }),
    (e: StatehouseError) => e.code === 'DATA_DIR_LOCKED',
  );
});

test('a member restarted without a data dir rejoins as a new incarnation and the old one is removed', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)));
  const victim = nodes[2]!;
  const oldId = victim.memberId;
  await victim.close();
  const reborn = await startNode({
    port: 0,
    id: victim.id,
    seeds: [nodes[0]!.address],
    ...fastTiming,
    partitions: 16,
  });
  t.after(() => reborn.close());
  assert.notEqual(reborn.memberId, oldId);
  await eventually('the old incarnation is gone and the table converged', () => {
    const s = nodes[0]!.status();
    return s.members.every((m) => m.id !== oldId) && converged(nodes[0]!, 3);
  });
});
