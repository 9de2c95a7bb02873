import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, codeOf, enc, isOk, setCmd } from './harness.js';

test('a write is refused with UNAVAILABLE when fewer than minInSync replicas are in sync, and nothing changes', () => {
  const c = new Cluster(['A', 'B'], { minInSync: 2 });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A'], backups: ['B'] });
  c.deliverAll();
  for (const durability of ['sync', 'async'] as const) {
    const write = c.execute('A', setCmd('k', enc(1)), durability);
    assert.equal(codeOf(c.outcome(write)), 'UNAVAILABLE');
  }
  assert.equal(c.replica('A').lastSeq, 0);
  assert.equal(c.replica('A').store.size, 0);
  c.flush('A');
  assert.equal(c.queue.length, 0);
});

test('reads are served even when fewer than minInSync replicas are in sync', () => {
  const c = new Cluster(['A', 'B'], { minInSync: 2 });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A'], backups: ['B'] });
  const read = c.execute('A', { op: 'get', key: 'k' });
  assert.ok(isOk(c.outcome(read)));
});

test('writes are accepted again once the in-sync set reaches minInSync', () => {
  const c = new Cluster(['A', 'B'], { minInSync: 2 });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A'], backups: ['B'] });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  const write = c.execute('A', setCmd('k', enc(1)));
  c.settle();
  assert.ok(isOk(c.outcome(write)));
});

test('minInSync must be a positive integer', () => {
  assert.throws(() => new Cluster(['A'], { minInSync: 0 }), /minInSync must be a positive integer/);
});
