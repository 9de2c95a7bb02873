import test from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget } from '../../src/store/index.js';
import { rebuildStore } from '../../src/replication/state-transfer.js';
import { PartitionStore } from '../../src/store/index.js';
import {
  assertSameState,
  Cluster,
  dump,
  dumpRemembered,
  enc,
  isOk,
  setCmd,
  t0,
} from './harness.js';

/** A primary A alone in sync with some history, and a fresh backup C added in epoch 2. */
function primaryWithData(options: ConstructorParameters<typeof Cluster>[1] = {}): Cluster {
  const c = new Cluster(['A', 'C'], options);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A'], backups: [] }, ['A']);
  for (let i = 0; i < 40; i++) {
    c.execute('A', setCmd(`k${i}`, enc({ i }), i % 3 === 0 ? 60_000 : undefined), 'sync', {
      clientId: `client-${i % 4}`,
      seq: i,
    });
  }
  c.execute('A', { op: 'delete', key: 'k5' });
  return c;
}

test('a primary without backups keeps no backlog, so its first backup catches up from a snapshot', () => {
  // Without a backup there is no one to resend to: a backlog would only keep overwritten
  // values alive. The first backup then starts from the current state, not the history.
  const c = primaryWithData();
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: ['C'] });
  const snapshots: number[] = [];
  const original = c.collect.bind(c);
  c.collect = (from, effects) => {
    for (const s of effects.send) if (s.message.type === 'snapshot') snapshots.push(1);
    original(from, effects);
  };
  c.settle();
  assert.ok(snapshots.length > 0);
  assertSameState(c.replica('A'), c.replica('C'));
  assert.deepEqual(c.caughtUp, [{ node: 'C', epoch: 2 }]);
});

test('a backup behind the backlog is sent a snapshot in bounded chunks, with writes held until it is installed', () => {
  // The backlog (30) is shorter than the history (about 80 mutations), so C needs a
  // snapshot, and longer than the writes made during the transfer, so it needs only one.
  const c = primaryWithData({
    logMutationsMax: 30,
    snapshotChunkEntriesMax: 8,
    snapshotChunksInFlightMax: 2,
  });
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: ['C'] });
  let chunks = 0;
  let writes = 0;
  for (let steps = 0; c.queue.length > 0; steps++) {
    assert.ok(steps < 1_000, 'the transfer did not finish');
    const next = c.queue[0]!;
    if (next.message.type === 'snapshot') {
      chunks++;
      assert.ok(next.message.entries.length + next.message.remembered.length <= 8);
      // Writes continue during the transfer.
      c.execute('A', setCmd(`during-${writes}`, enc(writes), 30_000), 'async');
      c.execute('A', { op: 'touch', key: 'k0', ttlMs: 90_000 }, 'async');
      writes++;
      c.flush('A');
      assert.equal(c.sent('append', 'C').length, 0, 'no append while the transfer runs');
    }
    c.deliver();
  }
  c.settle();
  assert.ok(chunks > 2, `the snapshot came in ${chunks} chunks`);
  assert.ok(writes > 0);
  assertSameState(c.replica('A'), c.replica('C'));
  assert.deepEqual(c.caughtUp, [{ node: 'C', epoch: 2 }]);
});

test('a backup that caught up is reported once, and not after it is in sync', () => {
  const c = primaryWithData({ logMutationsMax: 10 });
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: ['C'] });
  c.settle();
  assert.equal(c.caughtUp.length, 1);
  c.configure({ epoch: 2, primary: 'A', inSync: ['A', 'C'], backups: ['C'] });
  c.execute('A', setCmd('x', enc(1)));
  c.settle();
  assert.equal(c.caughtUp.length, 1);
});

test('a sync write waits for a backup once it is in sync', () => {
  const c = primaryWithData({ logMutationsMax: 10 });
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: ['C'] });
  c.settle();
  c.configure({ epoch: 2, primary: 'A', inSync: ['A', 'C'], backups: ['C'] });
  const write = c.execute('A', setCmd('x', enc(1)));
  assert.equal(c.outcome(write), undefined);
  c.settle();
  assert.ok(isOk(c.outcome(write)));
});

test('lost snapshot chunks are sent again on tick', () => {
  const c = primaryWithData({ logMutationsMax: 10, snapshotChunkEntriesMax: 8 });
  c.configure({ epoch: 2, primary: 'A', inSync: ['A'], backups: ['C'] });
  c.deliver(); // the probe reaches C
  c.deliver(); // C says it is behind: A starts the transfer
  const dropped = c.queue.filter((e) => e.message.type === 'snapshot').length;
  assert.ok(dropped > 0);
  c.queue = [];
  c.settle();
  assertSameState(c.replica('A'), c.replica('C'));
});

test('rebuilding a store from a snapshot keeps versions, expiry, lastSeq and remembered results', () => {
  const source = new PartitionStore({ partition: 0, budget: new MemoryBudget() });
  source.execute({ op: 'set', key: 'a', value: enc(1), ttlMs: 5_000 }, t0, {
    clientId: 'x',
    seq: 1,
  });
  source.execute({ op: 'set', key: 'b', value: enc(2) }, t0 + 1, { clientId: 'y', seq: 4 });
  source.execute({ op: 'set', key: 'a', value: enc(3) }, t0 + 2, {
    clientId: 'x',
    seq: 2,
    ackedBelow: 2,
  });
  source.execute({ op: 'delete', key: 'b' }, t0 + 3);
  const entries = [...source.entries()].map(
    ([k, e]) => [k, e.value, e.version, e.expiresAt] as const,
  );
  const clients = [...source.remembered()].map((r) => ({
    clientId: r.clientId,
    lastSeenAt: r.lastSeenAt,
    forgottenUpTo: r.forgottenUpTo,
    results: [...r.results.entries()],
  }));
  const copy = rebuildStore(
    { partition: 0, budget: new MemoryBudget() },
    source.lastSeq,
    entries,
    clients,
  );
  assert.equal(copy.lastSeq, source.lastSeq);
  assert.deepEqual(dump(copy), dump(source));
  assert.deepEqual(dumpRemembered(copy), dumpRemembered(source));
});

test('an empty partition with seqs to account for is rebuilt empty at that seq', () => {
  for (const seq of [0, 1, 7]) {
    const copy = rebuildStore({ partition: 0, budget: new MemoryBudget() }, seq, [], []);
    assert.equal(copy.lastSeq, seq);
    assert.equal(copy.size, 0);
    assert.equal(copy.bytes, 0);
    assert.deepEqual(dumpRemembered(copy), []);
  }
});
