import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
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

test('a node restarted on its data dir before it is declared dead loses no acknowledged write', async (t) => {
  // The failure timeout is long so that the restart surely lands before the node is declared
  // dead: the table still counts its (now empty) copies as current when it comes back.
  const timing = { tickMs: 20, failureTimeoutMs: 10_000, partitions: 32 };
  const dirs = [tempDir(t), tempDir(t), tempDir(t)];
  const nodes = [await startNode({ port: 0, id: 'n1', dataDir: dirs[0]!, ...timing })];
  for (const i of [1, 2]) {
    nodes.push(
      await startNode({
        port: 0,
        id: `n${i + 1}`,
        dataDir: dirs[i]!,
        seeds: [nodes[0]!.address],
        ...timing,
      }),
    );
  }
  t.after(() => Promise.all(nodes.map((n) => n.close())).then(() => undefined));
  await eventually('converged', () => nodes.every((n) => converged(n, 3)), 30_000);
  const client = await connect({ seeds: nodes.map((n) => n.address), timeoutMs: 20_000 });
  t.after(() => client.close());
  for (let i = 0; i < 200; i++) await client.set(`s:${i}`, i);
  const index = nodes.findIndex(
    (n) => n.status().leader !== n.memberId && n.stats().primaryEntries > 0,
  );
  const victim = nodes[index]!;
  await victim.close();
  nodes[index] = await startNode({
    port: victim.port,
    id: victim.id,
    dataDir: dirs[index]!,
    seeds: [nodes[(index + 1) % 3]!.address],
    ...timing,
  });
  assert.equal(nodes[index]!.memberId, victim.memberId, 'it resumed its member id');
  for (let i = 0; i < 200; i++) assert.equal(await client.get(`s:${i}`), i, `s:${i} was lost`);
  await eventually(
    'two copies of everything again',
    () => nodes.every((n) => converged(n, 3)),
    30_000,
  );
  for (let i = 0; i < 200; i++)
    assert.equal(await client.get(`s:${i}`), i, `s:${i} was lost later`);
});
