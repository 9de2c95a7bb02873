/**
 * SIGKILL of a node process under continuous sync write load (issue 4, test 1).
 *
 * Three `statehouse node` processes with the default settings (timing included; only ports
 * and data dirs are chosen), eight callers writing unique keys. After the kill, every write
 * the cluster acknowledged must read back, and every partition must accept writes again.
 * The failover time (SIGKILL until the last partition accepted a write) is reported, not
 * asserted: `npm run failover-trials` measures it over 20 trials.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { describeTrial, sigkillTrial } from '../helpers/failover-trial.js';
import { ProcessCluster } from '../helpers/process-cluster.js';

test(
  'after SIGKILL of a node holding primaries, every acknowledged sync write is readable and every partition accepts writes again',
  { timeout: 180_000 },
  async (t) => {
    const cluster = await ProcessCluster.start({ size: 3 });
    t.after(() => cluster.stop());
    const r = await sigkillTrial(cluster, { victim: 'follower', durability: 'sync' });
    t.diagnostic(describeTrial(r));
    t.diagnostic(
      `failover time (SIGKILL of a non-leader until every partition accepts writes): ${r.failoverMs} ms`,
    );
    assert.ok(r.victimPrimaries > 0, 'the victim held primaries');
    assert.ok(r.record.writes.acknowledged > 0, 'the load got writes acknowledged');
    assert.deepEqual(r.verification.lost, [], 'acknowledged sync writes were lost');
    assert.deepEqual(r.verification.unreadable, [], 'acknowledged writes could not be read');
    assert.equal(r.verification.checked, r.record.acknowledged.size);
  },
);
