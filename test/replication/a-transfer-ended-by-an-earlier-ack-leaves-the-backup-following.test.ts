/**
 * A primary starts a state transfer when its backlog no longer reaches back to where it last
 * heard a backup stand. The backup may in fact be current: its acknowledgement is on the way
 * (a slow backup digesting a burst). That acknowledgement ends the transfer on the primary,
 * which goes back to the stream; the chunks it had already sent still reach the backup.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { enc, isOk, setCmd, twoNodes } from './harness.js';

test('a backup whose transfer the primary ended on an earlier ack goes on following the stream', () => {
  const c = twoNodes({ logMutationsMax: 4, snapshotChunkEntriesMax: 1 });
  for (let i = 0; i < 8; i++) {
    c.execute('A', setCmd(`k${i}`, enc(i)));
    c.flush('A');
  }
  for (let i = 0; i < 8; i++) c.deliver(); // B applies all 8; its acks are still on the way
  assert.equal(c.replica('B').lastSeq, 8);
  const ack = c.queue[c.queue.length - 1]!;
  assert.equal(ack.message.type, 'ack');
  c.queue = [];
  c.now += 1_000;
  c.tick('A'); // A heard nothing since seq 0, and its backlog starts at 5: a transfer
  assert.ok(c.sent('snapshot', 'B').length > 0);
  c.queue.unshift(ack);
  c.deliver(); // the ack of 8 arrives first and ends the transfer
  const write = c.execute('A', setCmd('after', enc('transfer')));
  c.settle();
  assert.ok(isOk(c.outcome(write)), 'the write after the transfer was acknowledged');
  assert.equal(c.replica('B').lastSeq, c.replica('A').lastSeq);
});

test('a backup holding the start of a transfer its primary no longer sends follows the stream past it', () => {
  // In a new epoch in which the primary has written nothing yet, a stray first chunk of a
  // transfer at the backup's own seq (a duplicate of one the primary ended) is not known to
  // be old: the backup starts collecting it. The primary sends no more chunks; its appends
  // must still be applied.
  const c = twoNodes();
  for (let i = 0; i < 4; i++) c.execute('A', setCmd(`k${i}`, enc(i)));
  c.settle();
  c.configure({ epoch: 2, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  c.deliverAll();
  c.collect(
    'B',
    c.replica('B').receive(
      'A',
      {
        type: 'snapshot',
        partition: 0,
        epoch: 2,
        seq: 4,
        chunk: 0,
        last: false,
        entries: [],
        remembered: [],
        history: [],
      },
      c.now,
    ),
  );
  c.queue = [];
  const write = c.execute('A', setCmd('after', enc('stray chunk')));
  c.settle();
  assert.ok(isOk(c.outcome(write)), 'the write was acknowledged');
  assert.equal(c.replica('B').lastSeq, 5);
});
