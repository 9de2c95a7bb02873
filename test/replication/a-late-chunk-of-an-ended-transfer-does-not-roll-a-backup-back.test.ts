/**
 * A primary ends a state transfer on an acknowledgement that shows the backup current (it was
 * sent before the backup saw any chunk) and goes back to the stream. A chunk of that transfer
 * delayed behind the next appends (the simulator's network reorders) must not take the backup
 * back to the snapshot's seq, below writes it has acknowledged since.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { enc, isOk, setCmd, twoNodes } from './harness.js';

test('a late chunk of a transfer the primary ended does not roll the backup back', () => {
  const c = twoNodes({ logMutationsMax: 4 });
  for (let i = 0; i < 8; i++) {
    c.execute('A', setCmd(`k${i}`, enc(i)));
    c.flush('A');
  }
  for (let i = 0; i < 8; i++) c.deliver(); // B applies all 8; its acks are still on the way
  const ack = c.queue[c.queue.length - 1]!;
  assert.equal(ack.message.type, 'ack');
  c.queue = [];
  c.now += 1_000;
  c.tick('A'); // A's backlog no longer reaches seq 1: a transfer, of one chunk
  const [chunk] = c.sent('snapshot', 'B');
  assert.ok(chunk !== undefined);
  c.queue = [ack];
  c.deliver(); // ends the transfer; the chunk is delayed
  const write = c.execute('A', setCmd('after', enc('transfer')));
  c.flush('A');
  c.deliverAll();
  assert.ok(isOk(c.outcome(write)));
  assert.equal(c.replica('B').lastSeq, 9);
  c.queue.push(chunk);
  c.deliverAll();
  assert.equal(
    c.replica('B').lastSeq,
    9,
    'B went back to the snapshot, below a write it acknowledged',
  );
});
