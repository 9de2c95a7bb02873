/**
 * Regression, found by the data-plane simulator (seed 1, before the fix): a read on the
 * primary was answered from its store at once, so it could show a write the backups did not
 * hold yet. The primary was then cut off, a backup took over without that write, and the
 * client's retry of the same write landed there after a later one: the value read was never,
 * in any order, the key's value. A read is now answered like a sync write, once the in-sync
 * set holds everything the store held when it was executed.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeValue } from '../../src/core/value-codec.js';
import type { Outcome } from '../../src/store/index.js';
import { codeOf, enc, isOk, setCmd, twoNodes } from './harness.js';

function valueOf(outcome: Outcome | undefined): unknown {
  assert.ok(outcome?.ok === true && outcome.result.op === 'get');
  const entry = outcome.result.entry;
  return entry === null ? null : decodeValue(entry.value);
}

test('a read on the primary waits until the in-sync set holds the writes it sees', () => {
  const c = twoNodes();
  c.execute('A', setCmd('k', enc(1)));
  const read = c.execute('A', { op: 'get', key: 'k' });
  assert.equal(c.outcome(read), undefined, 'B does not hold the write yet');
  c.settle();
  assert.equal(valueOf(c.outcome(read)), 1);
});

test('a read that saw a write the backups never got fails when the primary loses its role', () => {
  const c = twoNodes();
  c.execute('A', setCmd('k', enc(1)), 'async');
  c.settle();
  c.execute('A', setCmd('k', enc(2)), 'async');
  const read = c.execute('A', { op: 'get', key: 'k' });
  assert.equal(c.outcome(read), undefined);
  // A is cut off before it flushes; B takes over with the value 1.
  c.configure({ epoch: 2, primary: 'B', inSync: ['B'], backups: [] });
  const outcome = c.outcome(read);
  assert.ok(outcome !== undefined && !isOk(outcome), 'never the value 2, which B never had');
  assert.equal(codeOf(outcome), 'NOT_PRIMARY');
  assert.ok(!outcome.ok && outcome.meta?.inDoubt !== true, 'a read changed nothing: not in doubt');
  const again = c.execute('B', { op: 'get', key: 'k' });
  assert.equal(valueOf(c.outcome(again)), 1);
});

test('a read of a partition with no write in flight is answered at once', () => {
  const c = twoNodes();
  c.execute('A', setCmd('k', enc(1)));
  c.settle();
  const read = c.execute('A', { op: 'get', key: 'k' });
  assert.equal(valueOf(c.outcome(read)), 1);
});
