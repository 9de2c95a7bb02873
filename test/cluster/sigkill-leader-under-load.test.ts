/**
 * SIGKILL of the Raft leader, which also holds primaries, under continuous sync write load.
 *
 * The slower variant of sigkill-primary.test.ts: the survivors must first elect a leader,
 * which then waits a full failure timeout before it declares the old one dead (it counts its
 * election as having heard from everyone), and only then fails its partitions over. The
 * failover time is reported separately from the non-leader case.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { describeTrial, sigkillTrial } from '../helpers/failover-trial.js';
import { ProcessCluster } from '../helpers/process-cluster.js';

test(
  'after SIGKILL of the Raft leader holding primaries, a new leader fails its partitions over and no acknowledged sync write is lost',
  { timeout: 180_000 },
  async (t) => {
    const cluster = await ProcessCluster.start({ size: 3 });
    t.after(() => cluster.stop());
    const r = await sigkillTrial(cluster, { victim: 'leader', durability: 'sync' });
    t.diagnostic(describeTrial(r));
    t.diagnostic(
      `failover time (SIGKILL of the Raft leader until every partition accepts writes): ${r.failoverMs} ms`,
    );
    assert.ok(r.victimPrimaries > 0, 'the victim held primaries');
    assert.deepEqual(r.verification.lost, [], 'acknowledged sync writes were lost');
    assert.deepEqual(r.verification.unreadable, [], 'acknowledged writes could not be read');
    assert.equal(r.verification.checked, r.record.acknowledged.size);
  },
);
