import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startNode } from '../../src/node/index.js';
import type { StatehouseError } from '../../src/core/errors.js';
import { fastTiming, startCluster } from '../helpers/cluster.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { freePort } from '../helpers/processes.js';

test('a node that claims the name of a live member is refused with NODE_ID_IN_USE', async (t) => {
  const [first] = await startCluster(t, 1);
  await assert.rejects(
    startNode({ port: 0, id: 'n1', seeds: [first!.address], ...fastTiming, joinTimeoutMs: 2_000 }),
    (e: StatehouseError) => e.code === 'NODE_ID_IN_USE' && /n1/.test(e.message),
  );
});

test('a node from another cluster is refused with CLUSTER_MISMATCH', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A founder with a data dir belongs to its own cluster from then on.
  const other = await startNode({ port: 0, id: 'stray', dataDir: dir, ...fastTiming });
  await other.close();
  const [first] = await startCluster(t, 1);
  await assert.rejects(
    startNode({ port: 0, id: 'stray', dataDir: dir, seeds: [first!.address], ...fastTiming }),
    (e: StatehouseError) => e.code === 'CLUSTER_MISMATCH',
  );
});

test('joining through a seed that is not the leader follows the hint to the leader', async (t) => {
  const nodes = await startCluster(t, 2);
  const follower = nodes.find((n) => n.status().leader !== n.memberId)!;
  const third = await startNode({ port: 0, id: 'n3', seeds: [follower.address], ...fastTiming });
  t.after(() => third.close());
  assert.ok(third.status().members.some((m) => m.name === 'n3'));
});

test('joining a seed where nothing listens fails with UNAVAILABLE', async () => {
  await assert.rejects(
    startNode({
      port: 0,
      id: 'lonely',
      seeds: ['127.0.0.1:1'],
      ...fastTiming,
      joinTimeoutMs: 1_000,
    }),
    (e: StatehouseError) => e.code === 'UNAVAILABLE',
  );
});

test("a node started without a partition count joins with the cluster's", async (t) => {
  const [first] = await startCluster(t, 1, { partitions: 16 });
  const second = await startNode({ port: 0, id: 'n2', seeds: [first!.address], ...fastTiming });
  t.after(() => second.close());
  assert.equal(second.status().partitions.total, 16);
  assert.ok(second.status().members.some((m) => m.name === 'n2' && m.state === 'active'));
});

test("a node joining with --min-in-sync above the cluster's replication factor says that it will refuse writes", async (t) => {
  const [first] = await startCluster(t, 1); // replication factor 2
  const errors: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
  const joiner = await startNode({
    port: 0,
    id: 'n2',
    seeds: [first!.address],
    minInSync: 3,
    logger,
    ...fastTiming,
  });
  t.after(() => joiner.close());
  const deadline = Date.now() + 5_000;
  while (!errors.some((l) => /minInSync exceeds/.test(l)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const said = errors.filter((l) => /minInSync exceeds/.test(l));
  assert.equal(said.length, 1, errors.join(''));
  assert.match(said[0]!, /"replicationFactor":2/);
});

test("a node given another partition count than the cluster's is refused before it joins", async (t) => {
  const [first] = await startCluster(t, 1, { partitions: 16 });
  await assert.rejects(
    startNode({ port: 0, id: 'n2', partitions: 64, seeds: [first!.address], ...fastTiming }),
    (e: StatehouseError) =>
      e.code === 'BAD_REQUEST' && /has 16 partitions/.test(e.message) && /64/.test(e.message),
  );
  assert.deepEqual(
    first!.status().members.map((m) => m.name),
    ['n1'],
    'the refused node was never admitted',
  );
});

test("a node started before its seed waits for it and joins with the cluster's partition count", async (t) => {
  const port = await freePort();
  const early = startNode({
    port: 0,
    id: 'n2',
    seeds: [`127.0.0.1:${port}`],
    ...fastTiming,
    joinTimeoutMs: 15_000,
  });
  await new Promise((r) => setTimeout(r, 500));
  const founder = await startNode({ port, id: 'n1', partitions: 16, ...fastTiming });
  t.after(() => founder.close());
  const second = await early;
  t.after(() => second.close());
  assert.equal(second.status().partitions.total, 16);
  assert.ok(second.status().members.some((m) => m.name === 'n2' && m.state === 'active'));
});

test('a node resumed from its data dir serves the partition count its log records', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await startNode({ port: 0, id: 'n1', partitions: 16, dataDir: dir, ...fastTiming });
  await first.close();
  const resumed = await startNode({ port: 0, id: 'n1', dataDir: dir, ...fastTiming });
  assert.equal(resumed.status().partitions.total, 16);
  await resumed.close();
  await assert.rejects(
    startNode({ port: 0, id: 'n1', partitions: 64, dataDir: dir, ...fastTiming }),
    (e: StatehouseError) =>
      e.code === 'BAD_REQUEST' && /has 16 partitions/.test(e.message) && /64/.test(e.message),
  );
});

test('a join naming a member over 256 characters is refused, and later joins still commit', async (t) => {
  const [first] = await startCluster(t, 1, { partitions: 16 });
  const raw = await RawConnection.ready(first!.port);
  t.after(() => raw.close());
  raw.request({
    kind: 'join',
    id: 1,
    name: 'x'.repeat(300),
    memberId: 'long~1',
    address: '127.0.0.1:1',
    clusterId: null,
  });
  const reply = await raw.reply(1);
  assert.ok(!reply.ok && reply.error.code === 'BAD_REQUEST', JSON.stringify(reply));
  const second = await startNode({ port: 0, id: 'n2', seeds: [first!.address], ...fastTiming });
  t.after(() => second.close());
  assert.ok(first!.status().members.some((m) => m.name === 'n2'));
});
