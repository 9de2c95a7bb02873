/**
 * Regression, found by the data-plane simulator (seed 17, before the fix): the leader kept a
 * primary's "lagging" and "caught up" reports until the partition's epoch changed, but the
 * in-sync set changes within an epoch. A copy reported lagging, then caught up again, was
 * taken out of the in-sync set by the old report, put back by the other, and so on at every
 * decision: hundreds of table versions, and a move slot held for as long as the epoch lasted.
 * A report the table already reflects is now dropped. (Taking a copy out of sync now also
 * starts a new epoch, so an old report could not apply any more anyway.)
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/random.js';
import type { ControlCommand } from '../../src/control/index.js';
import { ControlPlane } from '../../src/node/control-plane.js';
import { MemoryRaftStorage } from '../../src/node/raft-storage.js';
import { silentLogger } from '../../src/node/logger.js';

function leaderWithOneBackup(): { plane: ControlPlane; tick: (n: number) => void } {
  let now = 1_700_000_000_000;
  const plane = new ControlPlane({
    self: { id: 'a~1', name: 'a', address: 'a:1', state: 'active' },
    bootstrap: true,
    settings: { partitionCount: 1, replicationFactor: 2 },
    storage: new MemoryRaftStorage<ControlCommand>(),
    // b never answers: the leader alone is the quorum, and b stays a learner.
    transport: { send: () => undefined, learn: () => undefined, addressOf: () => undefined },
    clock: { now: () => now },
    random: new SeededRandom(1),
    logger: silentLogger,
    electionTimeoutTicks: 10,
    tickMs: 50,
    // Long enough that b's silence is never taken for a failure within the test.
    failureTimeoutMs: 3_600_000,
    votersMax: 3,
    onChange: () => undefined,
  });
  const tick = (n: number): void => {
    for (let i = 0; i < n; i++) {
      now += 50;
      plane.tick();
    }
  };
  return { plane, tick };
}

test('a lagging report the table already reflects does not take a copy out of the in-sync set again', async () => {
  const { plane, tick } = leaderWithOneBackup();
  tick(30);
  assert.ok(plane.isLeader);
  await plane.admit({
    kind: 'join',
    id: 0,
    name: 'b',
    memberId: 'b~1',
    address: 'b:1',
    clusterId: null,
  });
  tick(20);
  const placed = plane.state.table[0]!;
  assert.deepEqual(placed.backups, ['b~1'], 'b holds the backup');
  const report = { partition: 0, node: 'b~1', epoch: placed.epoch };
  const inSync = (): boolean => plane.state.table[0]!.inSync.includes('b~1');

  plane.report([report], []);
  tick(5);
  assert.ok(inSync(), 'caught up: in sync');
  plane.report([], [report]);
  tick(5);
  assert.ok(!inSync(), 'lagging: out of sync');
  // Out of sync is a new epoch: the catch-up that puts b back is reported in it.
  const again = { ...report, epoch: plane.state.table[0]!.epoch };
  assert.equal(again.epoch, report.epoch + 1);
  plane.report([again], []);
  tick(5);
  assert.ok(inSync(), 'caught up again: in sync');

  const version = plane.state.tableVersion;
  tick(40);
  assert.ok(inSync(), 'no report since: it stays in sync');
  assert.equal(plane.state.tableVersion, version, 'and the table stays as it is');
  plane.close();
});
