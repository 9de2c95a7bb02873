import test from 'node:test';
import assert from 'node:assert/strict';
import { enc, isOk, setCmd, twoNodes } from './harness.js';

test('an in-sync backup that stops acknowledging is reported lagging after ackTimeoutMs', () => {
  const c = twoNodes({ ackTimeoutMs: 1_000, resendMs: 100 });
  c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.queue = []; // B is gone
  c.now += 900;
  c.tick('A');
  assert.deepEqual(c.lagging, []);
  c.now += 200;
  c.queue = [];
  c.tick('A');
  assert.deepEqual(c.lagging, ['B']);
});

test('a sync write is not acknowledged without a lagging backup until the control plane removes it', () => {
  const c = twoNodes({ ackTimeoutMs: 1_000 });
  const write = c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.queue = [];
  c.now += 5_000;
  c.tick('A');
  c.queue = [];
  assert.deepEqual(c.lagging, ['B']);
  assert.equal(c.outcome(write), undefined, 'reporting is not removing');
  // The control plane removes B (a new epoch): the write fails rather than succeed on a
  // different set than it was accepted with; a write after it needs A alone.
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: [] }, ['A']);
  assert.equal(c.outcome(write)?.ok, false);
  const next = c.execute('A', setCmd('k', enc(2)));
  assert.ok(isOk(c.outcome(next)));
});

test('an idle backup with nothing to acknowledge is not lagging', () => {
  const c = twoNodes({ ackTimeoutMs: 1_000 });
  c.execute('A', setCmd('k', enc(1)));
  c.settle();
  c.lagging.length = 0;
  c.now += 10_000;
  c.tick('A');
  assert.deepEqual(c.lagging, []);
});
