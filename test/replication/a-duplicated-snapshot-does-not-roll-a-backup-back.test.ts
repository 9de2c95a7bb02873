/**
 * Regression, found by the data-plane simulator (seed 1013, with message duplication): a
 * backup installed a snapshot at seq 80, applied and acknowledged the appends up to 82, and
 * then received a second copy of the snapshot's (only) chunk. It took that for the start of
 * a new transfer and installed it again, going back to 80. Its primary, which had counted
 * 81 and 82 as held there, resent 83 on, was told "behind" at 80, and resent 83 again, for
 * ever; and an acknowledged write held only by the rolled-back backup would have been lost
 * had it been promoted. Within an epoch a primary's snapshots only move forward, so a chunk
 * of one no newer than what the backup holds is old news.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, enc, isOk, setCmd, type Envelope } from './harness.js';

/** A holds 10 writes in epoch 1; B joins in epoch 2 and is caught up by a one-chunk snapshot. */
function installedFromSnapshot(): { c: Cluster; snapshot: Envelope } {
  const c = new Cluster(['A', 'B']);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A'], backups: [] }, ['A']);
  for (let i = 0; i < 10; i++) c.execute('A', setCmd(`k${i}`, enc(i)));
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: ['B'] });
  let snapshot: Envelope | undefined;
  for (let i = 0; i < 1_000 && c.queue.length > 0; i++) {
    const next = c.queue[0]!;
    if (next.message.type === 'snapshot') snapshot ??= next;
    c.deliver();
  }
  assert.ok(snapshot !== undefined, 'B was caught up by a snapshot');
  return { c, snapshot };
}

test('a second copy of an installed snapshot chunk does not roll the backup back', () => {
  const { c, snapshot } = installedFromSnapshot();
  const installedAt = c.replica('B').lastSeq;
  const write = c.execute('A', setCmd('after', enc('snapshot')));
  c.flush('A');
  c.deliverAll();
  assert.ok(isOk(c.outcome(write)));
  assert.equal(c.replica('B').lastSeq, installedAt + 1);

  c.queue.push(snapshot);
  c.deliverAll();
  assert.equal(c.replica('B').lastSeq, installedAt + 1, 'B went back to the snapshot');
});

test('after a second copy of its snapshot, the backup keeps acknowledging new writes', () => {
  const { c, snapshot } = installedFromSnapshot();
  c.execute('A', setCmd('after', enc(1)));
  c.flush('A');
  c.deliverAll();
  c.queue.push(snapshot);
  c.deliverAll();
  c.execute('A', setCmd('later', enc(2)));
  c.settle();
  assert.equal(c.replica('B').lastSeq, c.replica('A').lastSeq);
});
