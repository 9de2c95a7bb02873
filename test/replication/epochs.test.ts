import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, codeOf, enc, isOk, setCmd, twoNodes } from './harness.js';

test('an append from an older epoch is refused', () => {
  const c = twoNodes();
  c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  const stale = c.drop();
  c.configure({ epoch: 2, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  c.queue = [];
  c.collect('B', c.replica('B').receive(stale.from, stale.message, c.now));
  assert.equal(c.replica('B').lastSeq, 0);
  assert.equal(c.queue.length, 0, 'not even acknowledged');
});

test('an append from a node that is not the epoch primary is refused', () => {
  const c = new Cluster(['A', 'B', 'C']);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B', 'C'], backups: ['B', 'C'] });
  c.deliverAll();
  c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  const append = c.sent('append', 'B')[0];
  assert.ok(append !== undefined);
  c.collect('B', c.replica('B').receive('C', append.message, c.now));
  assert.equal(c.replica('B').lastSeq, 0);
});

test('a configure to an older epoch is ignored', () => {
  const c = twoNodes();
  c.configure({ epoch: 3, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  c.configure({ epoch: 2, primary: 'B', inSync: ['A', 'B'], backups: ['A'] });
  assert.equal(c.replica('A').epoch, 3);
  assert.equal(c.replica('A').role, 'primary');
});

test('pending sync writes of a deposed primary fail with NOT_PRIMARY, never succeed', () => {
  const c = twoNodes();
  const write = c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.deliver(); // B has it; its ack is still on the way
  c.configure({ epoch: 2, primary: 'B', inSync: ['B'], backups: [] });
  assert.equal(codeOf(c.outcome(write)), 'NOT_PRIMARY');
  c.deliverAll(); // the old-epoch ack arrives late and changes nothing
  assert.equal(codeOf(c.outcome(write)), 'NOT_PRIMARY');
});

test('pending sync writes fail with UNAVAILABLE when the primary stays across an epoch', () => {
  const c = twoNodes();
  const write = c.execute('A', setCmd('k', enc(1)));
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: [] }, ['A']);
  assert.equal(codeOf(c.outcome(write)), 'UNAVAILABLE');
});

test('a pending write failed by an epoch change says it may have been applied', () => {
  const c = twoNodes();
  const write = c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.deliver(); // B has it: after a failover to B it survives, yet A cannot say so
  c.configure({ epoch: 2, primary: 'B', inSync: ['B'], backups: [] });
  const outcome = c.outcome(write);
  assert.ok(outcome !== undefined && !outcome.ok);
  assert.equal(outcome.meta?.inDoubt, true);
});

test('writes the old in-sync set fully acknowledged are answered success at the epoch change', () => {
  const c = twoNodes();
  const write = c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.deliverAll();
  assert.ok(isOk(c.outcome(write)));
  c.configure({ epoch: 2, primary: 'B', inSync: ['B'], backups: [] });
  assert.ok(isOk(c.outcome(write)));
});

test('a promoted backup serves the acknowledged writes and continues the sequence', () => {
  const c = twoNodes();
  c.execute('A', setCmd('k', enc(1)));
  c.settle();
  c.configure({ epoch: 2, primary: 'B', inSync: ['B', 'A'], backups: ['A'] });
  const read = c.execute('B', { op: 'get', key: 'k' });
  // A new primary answers reads once its in-sync copies confirmed they hold what it holds.
  c.settle();
  assert.ok(isOk(c.outcome(read)));
  const write = c.execute('B', setCmd('k', enc(2)));
  c.settle();
  assert.ok(isOk(c.outcome(write)));
  assert.equal(c.replica('A').lastSeq, 2, 'the old primary follows as a backup');
});

test('a backup holding a write the new primary never had is repaired by state transfer', () => {
  const c = new Cluster(['A', 'B', 'C']);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B', 'C'], backups: ['B', 'C'] });
  c.deliverAll();
  c.execute('A', setCmd('k', enc('from A')), 'async');
  c.flush('A');
  // Only C gets it; then A dies and B is promoted.
  const toB = c.sent('append', 'B')[0];
  assert.ok(toB !== undefined);
  c.queue.splice(c.queue.indexOf(toB), 1);
  c.deliverAll();
  assert.equal(c.replica('C').lastSeq, 1);
  c.replicas.delete('A');
  c.configure({ epoch: 2, primary: 'B', inSync: ['B', 'C'], backups: ['C'] });
  c.execute('B', setCmd('k', enc('from B')), 'async');
  c.settle();
  assert.deepEqual(
    [...c.replica('C').store.entries()].map(([k, e]) => [k, e.version]),
    [['k', 1]],
  );
  const entry = c.replica('C').store.entries().next().value;
  const bEntry = c.replica('B').store.entries().next().value;
  assert.ok(entry !== undefined && bEntry !== undefined);
  assert.deepEqual(entry[1].value, bEntry[1].value, "C now holds B's write, not A's");
});
