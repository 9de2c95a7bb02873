import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, codeOf, enc, isOk, setCmd, twoNodes } from './harness.js';

test('a sync write is acknowledged only after the in-sync backup applied it', () => {
  const c = twoNodes();
  const write = c.execute('A', setCmd('k', enc('v')));
  assert.equal(c.outcome(write), undefined, 'nothing is acknowledged before the flush');
  c.flush('A');
  assert.equal(c.outcome(write), undefined, 'the append is only on its way');
  c.deliver(); // the append reaches B, which applies it and acks
  assert.equal(c.replica('B').lastSeq, 1);
  assert.equal(c.outcome(write), undefined, 'the ack is still on its way');
  c.deliver(); // the ack reaches A
  assert.ok(isOk(c.outcome(write)));
});

test('an async write is acknowledged at once, before any backup has it', () => {
  const c = twoNodes();
  const write = c.execute('A', setCmd('k', enc('v')), 'async');
  assert.ok(isOk(c.outcome(write)));
  assert.equal(c.replica('B').lastSeq, 0);
  c.settle();
  assert.equal(c.replica('B').lastSeq, 1, 'it still replicates');
});

test('a read on the primary is answered at once when the in-sync set holds every write', () => {
  const c = twoNodes();
  c.execute('A', setCmd('k', enc('v')));
  c.settle();
  const read = c.execute('A', { op: 'get', key: 'k' });
  assert.ok(isOk(c.outcome(read)));
});

test('a sync write that changes nothing still waits for the writes before it', () => {
  const c = twoNodes();
  const first = c.execute('A', setCmd('k', enc(1)), 'sync', { clientId: 'c', seq: 1 });
  const retry = c.execute('A', setCmd('k', enc(1)), 'sync', { clientId: 'c', seq: 1 });
  assert.equal(c.outcome(retry), undefined, 'the remembered result is not on B yet');
  c.settle();
  assert.ok(isOk(c.outcome(first)));
  assert.ok(isOk(c.outcome(retry)));
});

test('sync replies leave in the order the writes were applied', () => {
  const c = twoNodes();
  const ids = [1, 2, 3].map((i) => c.execute('A', setCmd(`k${i}`, enc(i))));
  const answered: number[] = [];
  const original = c.collect.bind(c);
  c.collect = (from, effects) => {
    for (const r of effects.replies) answered.push(r.requestId);
    original(from, effects);
  };
  c.settle();
  assert.deepEqual(answered, ids);
});

test('a replica that is not the primary answers NOT_PRIMARY with its epoch', () => {
  const c = twoNodes();
  const write = c.execute('B', setCmd('k', enc('v')));
  const read = c.execute('B', { op: 'get', key: 'k' });
  assert.equal(codeOf(c.outcome(write)), 'NOT_PRIMARY');
  assert.equal(codeOf(c.outcome(read)), 'NOT_PRIMARY');
  const outcome = c.outcome(write);
  assert.ok(outcome !== undefined && !outcome.ok);
  assert.deepEqual(outcome.meta, { partition: 0, epoch: 1 });
  assert.equal(c.replica('B').lastSeq, 0);
});

test('a primary alone in its in-sync set acknowledges sync writes at once', () => {
  const c = new Cluster(['A', 'B']);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A'], backups: ['B'] });
  const write = c.execute('A', setCmd('k', enc('v')));
  assert.ok(isOk(c.outcome(write)));
});
