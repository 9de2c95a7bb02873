import test from 'node:test';
import assert from 'node:assert/strict';
import { assertSameState, enc, setCmd, twoNodes } from './harness.js';

test('a backup applying the stream holds exactly the primary entries, TTLs and remembered results', () => {
  const c = twoNodes();
  c.execute('A', setCmd('plain', enc({ a: 1 })));
  c.execute('A', setCmd('ttl', enc('x'), 60_000), 'sync', { clientId: 'web-1', seq: 1 });
  c.execute('A', { op: 'touch', key: 'ttl', ttlMs: 120_000 });
  c.execute('A', { op: 'patch', key: 'cart', ops: [{ op: 'incr', path: 'n', by: 2 }] }, 'async', {
    clientId: 'web-1',
    seq: 2,
  });
  c.execute('A', { op: 'set', key: 'plain', value: enc(0), ifVersion: 99 }, 'sync', {
    clientId: 'web-2',
    seq: 7,
  });
  c.execute('A', { op: 'delete', key: 'plain' });
  c.settle();
  assertSameState(c.replica('A'), c.replica('B'));
});

test('the primary reclaiming expired entries replicates their deletes', () => {
  const c = twoNodes();
  c.execute('A', setCmd('short', enc(1), 10));
  c.execute('A', setCmd('long', enc(2), 1_000_000));
  c.settle();
  assert.equal(c.replica('B').store.size, 2);
  c.now += 60_000;
  c.reclaim('A');
  c.settle();
  assert.equal(c.replica('A').store.size, 1);
  assertSameState(c.replica('A'), c.replica('B'));
});

test('a backup never reclaims on its own', () => {
  const c = twoNodes();
  c.execute('A', setCmd('short', enc(1), 10));
  c.settle();
  c.now += 60_000;
  c.reclaim('B');
  assert.equal(c.replica('B').store.size, 1);
  assert.equal(c.queue.length, 0);
});
