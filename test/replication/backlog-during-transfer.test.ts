import test from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget, type Mutation } from '../../src/store/index.js';
import { PartitionReplica } from '../../src/replication/partition-replica.js';
import { MutationLog } from '../../src/replication/replication-log.js';
import { assertSameState, Cluster, enc, setCmd } from './harness.js';

/**
 * A state transfer resumes the stream at its snapshot's seq S+1, so the primary's backlog
 * must still hold S+1 when the transfer ends, however many writes arrived meanwhile; before,
 * a transfer under steady load found the stream gone and started over, forever.
 */

/** A primary A with 40 keys and a fresh backup C in epoch 2, which needs a transfer. */
function transferUnderWay(options: ConstructorParameters<typeof Cluster>[1]): Cluster {
  const c = new Cluster(['A', 'C'], {
    logMutationsMax: 10,
    snapshotChunkEntriesMax: 4,
    snapshotChunksInFlightMax: 1,
    ...options,
  });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A'], backups: [] }, ['A']);
  for (let i = 0; i < 40; i++) c.execute('A', setCmd(`k${i}`, enc(i)), 'async');
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: ['C'] });
  return c;
}

/**
 * Delivers messages one at a time, making `writesPerMessage` writes on A before each while
 * `writing` says so; returns the snapshot seqs A sent and the writes made during transfers.
 */
function run(
  c: Cluster,
  writesPerMessage: number,
  writing: (written: number) => boolean,
): { snapshotSeqs: Set<number>; writesDuringTransfer: number } {
  const snapshotSeqs = new Set<number>();
  let written = 0;
  let writesDuringTransfer = 0;
  for (let steps = 0; c.queue.length > 0; steps++) {
    assert.ok(steps < 5_000, 'the transfer did not finish');
    const next = c.queue[0]!;
    if (next.message.type === 'snapshot') snapshotSeqs.add(next.message.seq);
    if (writing(written)) {
      for (let i = 0; i < writesPerMessage; i++) {
        c.execute('A', setCmd(`w${written % 7}`, enc(written)), 'async');
        written++;
        if (c.replica('A').peerState('C')?.transferring === true) writesDuringTransfer++;
      }
      c.flush('A');
    }
    c.deliver();
  }
  c.settle();
  return { snapshotSeqs, writesDuringTransfer };
}

test('a state transfer completes while more writes arrive during it than the backlog holds', () => {
  const c = transferUnderWay({});
  // Writes go on through the transfer and the catch-up after it, and stop after 400.
  const { snapshotSeqs, writesDuringTransfer } = run(c, 2, (written) => written < 400);
  assert.ok(
    writesDuringTransfer > 2 * 10,
    `only ${writesDuringTransfer} writes during the transfer; the backlog holds 10`,
  );
  assert.equal(snapshotSeqs.size, 1, `the transfer started ${snapshotSeqs.size} times`);
  assertSameState(c.replica('A'), c.replica('C'));
  assert.deepEqual(c.caughtUp, [{ node: 'C', epoch: 2 }]);
});

test('a transfer that outlasts transferLogMutationsMax starts over, and completes once writes slow down', () => {
  const c = transferUnderWay({ transferLogMutationsMax: 20 });
  // 3 writes per message for the first 60 writes: more than 20 during the first transfer.
  const { snapshotSeqs } = run(c, 3, (written) => written < 60);
  assert.ok(snapshotSeqs.size > 1, 'the first transfer could not have been resumed');
  assertSameState(c.replica('A'), c.replica('C'));
});

function deletes(from: number, to: number): Mutation[] {
  const out: Mutation[] = [];
  for (let seq = from; seq <= to; seq++) out.push({ kind: 'delete', seq, key: 'k' });
  return out;
}

test('the backlog keeps the seqs from keepFrom up to its hard bound, then its usual bound', () => {
  const log = new MutationLog(1, 10, Infinity, 25, Infinity);
  log.push(deletes(1, 5));
  log.push(deletes(6, 20), 3);
  assert.equal(log.startSeq, 3, 'seqs 3.. are kept past the usual 10');
  log.push(deletes(21, 27), 3);
  assert.equal(log.length, 25, 'up to the hard bound of 25');
  log.push(deletes(28, 28), 3);
  assert.equal(log.length, 10, 'past the hard bound, back to the usual 10 at once');
  assert.equal(log.startSeq, 19);
  log.push(deletes(29, 31), 3);
  assert.equal(log.startSeq, 22, 'a keepFrom already gone holds nothing');
  log.push(deletes(32, 33), 22);
  assert.equal(log.startSeq, 22, 'a keepFrom within the log holds again');
  log.push(deletes(34, 34));
  assert.equal(log.startSeq, 25, 'without keepFrom the usual bound applies');
});

test('transferLogMutationsMax below logMutationsMax is refused with a message naming both', () => {
  assert.throws(
    () =>
      new PartitionReplica({
        self: 'A',
        store: { partition: 0, budget: new MemoryBudget() },
        logMutationsMax: 100,
        transferLogMutationsMax: 50,
      }),
    /transferLogMutationsMax \(50\) must be at least logMutationsMax \(100\)/,
  );
});
