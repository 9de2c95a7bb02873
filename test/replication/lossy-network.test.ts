import test from 'node:test';
import assert from 'node:assert/strict';
import { assertSameState, enc, isOk, setCmd, twoNodes } from './harness.js';

test('a duplicated append is applied once and acknowledged again', () => {
  const c = twoNodes();
  c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  const [append] = c.queue;
  assert.ok(append !== undefined);
  c.queue.push(append);
  c.deliverAll();
  assert.equal(c.replica('B').lastSeq, 1);
  assertSameState(c.replica('A'), c.replica('B'));
});

test('reordered appends converge without loss', () => {
  const c = twoNodes();
  const first = c.execute('A', setCmd('a', enc(1)));
  c.flush('A');
  const second = c.execute('A', setCmd('b', enc(2)));
  c.flush('A');
  assert.equal(c.sent('append').length, 2);
  c.deliver(1); // the second append first: B is behind it and says so
  assert.equal(c.replica('B').lastSeq, 0);
  c.deliverAll();
  assert.equal(c.replica('B').lastSeq, 2);
  assert.ok(isOk(c.outcome(first)) && isOk(c.outcome(second)));
  assertSameState(c.replica('A'), c.replica('B'));
});

test('a lost append is sent again on tick, and the write is then acknowledged', () => {
  const c = twoNodes({ resendMs: 100 });
  const write = c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.drop();
  c.now += 50;
  c.tick('A');
  assert.equal(c.queue.length, 0, 'not before resendMs');
  c.now += 100;
  c.tick('A');
  assert.equal(c.sent('append', 'B').length, 1);
  c.deliverAll();
  assert.ok(isOk(c.outcome(write)));
});

test('a lost ack is repaired by the resend, which the backup acknowledges without applying again', () => {
  const c = twoNodes({ resendMs: 100 });
  const write = c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.deliver(); // B applies
  c.drop(); // the ack is lost
  c.now += 200;
  c.tick('A');
  c.deliverAll();
  assert.equal(c.replica('B').lastSeq, 1);
  assert.ok(isOk(c.outcome(write)));
});
