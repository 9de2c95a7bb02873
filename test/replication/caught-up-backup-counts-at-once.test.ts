/**
 * A primary that reported a backup caught up counts it for acknowledgements at once, before
 * the table says it is in sync. The leader may commit the backup into the in-sync set, and
 * promote it, before this primary applies that table; a write acknowledged without the
 * backup in between would then be lost. Found by the data-plane simulator (seeds 88 and
 * 170 at the time).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, enc, isOk, setCmd } from './harness.js';

test('a write after the primary reported a backup caught up waits for that backup', () => {
  const c = new Cluster(['A', 'B']);
  // B is a new copy, not yet in the in-sync set.
  c.configure({ epoch: 1, primary: 'A', backups: ['B'], inSync: ['A'] });
  c.settle();
  assert.deepEqual(
    c.caughtUp.map((r) => r.node),
    ['B'],
    'the primary reported B caught up',
  );
  // The table that adds B to the in-sync set has not reached A yet; a write arrives.
  const write = c.execute('A', setCmd('k', enc('v')));
  c.flush('A');
  assert.equal(c.outcome(write), undefined, 'acknowledged before B applied it');
  c.deliverAll();
  assert.ok(isOk(c.outcome(write)), 'acknowledged once B applied it');
});
