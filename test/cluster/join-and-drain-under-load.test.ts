/**
 * Join of a fourth node, then drain of one of the first three, under continuous load, with
 * real processes (issue 4, test 3). A planned change must cost the clients nothing: zero
 * failed requests, every acknowledged write readable afterwards, and copies moved close to
 * the minimum (a join moves about P·RF/(N+1) copies; a drain moves the drained node's copies).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describeErrors, verifyAcknowledged, WriteLoad } from '../helpers/load.js';
import { ProcessCluster } from '../helpers/process-cluster.js';

const partitions = 64;
const rf = 2;

test(
  'a join and a drain under load fail no request and lose no acknowledged write',
  { timeout: 240_000 },
  async (t) => {
    const cluster = await ProcessCluster.start({
      size: 3,
      args: ['--partitions', String(partitions)],
    });
    t.after(() => cluster.stop());
    await cluster.settled(3);
    const load = await WriteLoad.start({
      seeds: cluster.seeds(),
      callers: 8,
      mode: 'registers',
      readShare: 0.5,
      timeoutMs: 10_000,
    });
    let stopped = false;
    t.after(async () => {
      if (!stopped) await load.stop();
    });
    await load.acknowledgedMore(200);

    // Join: the fourth node takes its share.
    const copiesBefore = (await cluster.settled(3)).members.map((m) => [m.id, m.copies]);
    await cluster.spawn('n4');
    const joined = await cluster.settled(4);
    const n4 = joined.members.find((m) => m.name === 'n4')!;
    t.diagnostic(
      `join: n4 received ${n4.copies} copies (minimum P·RF/(N+1) = ${(partitions * rf) / 4}); ` +
        `before: ${JSON.stringify(copiesBefore)}`,
    );
    assert.ok(n4.copies <= Math.ceil((partitions * rf) / 4) + 1, 'the join moved about 1/N');
    await load.acknowledgedMore(200);

    // Drain: n2 hands everything over and exits by itself.
    const leaving = cluster.nodes.find((n) => n.name === 'n2')!;
    const copiesOfLeaving = joined.members.find((m) => m.name === 'n2')!.copies;
    leaving.child.kill('SIGTERM');
    if (leaving.child.exitCode === null) await once(leaving.child, 'exit');
    assert.equal(leaving.child.exitCode, 0, 'the drained node exited cleanly');
    const after = await cluster.settled(3);
    t.diagnostic(
      `drain: n2 held ${copiesOfLeaving} copies; after: ` +
        JSON.stringify(after.members.map((m) => [m.name, m.copies, m.primaries])),
    );
    await load.acknowledgedMore(200);
    const record = await load.stop();
    stopped = true;
    t.diagnostic(
      `${record.writes.acknowledged} writes acknowledged, ${record.reads.ok} reads; errors: ${describeErrors(record) || 'none'}`,
    );
    assert.equal(record.errors.size, 0, `failed requests: ${describeErrors(record)}`);
    const verification = await verifyAcknowledged(cluster.seeds(), record);
    assert.deepEqual(verification.lost, [], 'acknowledged writes were lost');
    assert.deepEqual(verification.unreadable, []);
  },
);
