import test from 'node:test';
import assert from 'node:assert/strict';
import { MutationLog } from '../../src/replication/replication-log.js';
import { enc, setCmd, twoNodes } from './harness.js';

test('a backup keeps only a short tail of the stream, however many writes it applied', () => {
  const c = twoNodes();
  for (let i = 0; i < 5_000; i++) {
    c.execute('A', setCmd(`k${i % 100}`, enc({ i })), 'sync');
    if (i % 50 === 0) c.settle();
  }
  c.settle();
  assert.equal(c.replica('B').lastSeq, c.replica('A').lastSeq, 'the backup is current');
  assert.ok(
    c.replica('B').backlog.mutations <= 128,
    `the backup holds ${c.replica('B').backlog.mutations} mutations`,
  );
  assert.equal(c.replica('A').backlog.mutations, 0, 'the primary trimmed what B acknowledged');
});

test('a backup promoted after a long run still brings a barely-behind copy up to date', () => {
  const c = twoNodes();
  for (let i = 0; i < 3_000; i++) {
    c.execute('A', setCmd(`k${i % 10}`, enc(i)), 'sync');
    if (i % 100 === 0) c.settle();
  }
  c.settle();
  c.configure({ epoch: 2, primary: 'B', inSync: ['B', 'A'], backups: ['A'] });
  c.settle();
  c.execute('B', setCmd('after', enc(1)), 'sync');
  c.settle();
  assert.equal(c.replica('A').lastSeq, c.replica('B').lastSeq);
});

test('the log forgets in order and counts what it holds', () => {
  const log = new MutationLog(1, 3, 1 << 20);
  const put = (seq: number) => ({ kind: 'delete' as const, seq, key: `k${seq}` });
  log.push([put(1), put(2), put(3), put(4), put(5)]);
  assert.equal(log.startSeq, 3);
  assert.deepEqual(
    log.slice(3, 10, 1 << 20).map((m) => m.seq),
    [3, 4, 5],
  );
  log.keepNewest(1, 1 << 20);
  assert.equal(log.startSeq, 5);
  assert.equal(log.length, 1);
});
