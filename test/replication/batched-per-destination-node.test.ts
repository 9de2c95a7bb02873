/**
 * DESIGN.md section 4: the replication stream is batched per destination node. On three real
 * DataPlanes with several partitions, a flush sends each backup node one message carrying the
 * appends of every partition it backs, the backup answers with one message of acks, and the
 * primary answers every write those acks complete at once.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  DataPlane,
  type PartitionPlacement,
  type PlaneEffects,
} from '../../src/replication/index.js';
import { partitionOf } from '../../src/core/keys.js';
import type { PeerDataMessage } from '../../src/protocol/replication-messages.js';
import { enc } from '../store/helpers.js';
import { testPlane } from './two-planes.js';

const partitions = 8;
const now = 1_000;

/** A at the head of every partition; B backs the even ones, C the odd ones. */
function threeNodes(): Map<string, DataPlane> {
  const planes = new Map<string, DataPlane>();
  for (const id of ['A', 'B', 'C']) {
    planes.set(id, testPlane(id, partitions));
  }
  const table: PartitionPlacement[] = Array.from({ length: partitions }, (_, p) => {
    const backup = p % 2 === 0 ? 'B' : 'C';
    return { epoch: 1, primary: 'A', backups: [backup], inSync: ['A', backup] };
  });
  // Probes, their acks, lease pings and (on the next tick's pings) their echoes, until the
  // network is quiet.
  const pending: { from: string; to: string; message: PeerDataMessage }[] = [];
  const deliver = (from: string, effects: PlaneEffects): void => {
    for (const s of effects.send) pending.push({ from, ...s });
  };
  for (const [id, plane] of planes)
    deliver(
      id,
      plane.applyTable(1, table, (m) => `${m}:1`, now),
    );
  for (let tick = 0; tick < 2; tick++) {
    for (const [id, plane] of planes) deliver(id, plane.tick(now));
    while (pending.length > 0) {
      const { from, to, message } = pending.shift()!;
      deliver(to, planes.get(to)!.receive(from, message, now));
    }
  }
  return planes;
}

/** One key in each partition. */
function keyPerPartition(): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < partitions; i++) {
    const key = `key:${i}`;
    if (partitionOf(key, partitions) === keys.length) keys.push(key);
  }
  return keys;
}

function appendsIn(message: PeerDataMessage): number[] {
  assert.equal(message.type, 'batch');
  assert.ok(message.type === 'batch');
  return message.messages.map((m) => {
    assert.equal(m.type, 'append');
    return m.type === 'append' ? m.partition : -1;
  });
}

test('a flush sends each backup node one batch with the appends of every partition it backs', () => {
  const planes = threeNodes();
  const a = planes.get('A')!;
  keyPerPartition().forEach((key, i) => {
    const effects = a.execute(i + 1, { op: 'set', key, value: enc(i) }, now);
    assert.deepEqual(effects.replies, [], 'a sync write waits for its backup');
    assert.deepEqual(effects.send, [], 'nothing is sent per write');
  });
  const sent = a.flush().send;
  assert.deepEqual(
    sent.map((s) => s.to),
    ['B', 'C'],
  );
  assert.deepEqual(appendsIn(sent[0]!.message), [0, 2, 4, 6]);
  assert.deepEqual(appendsIn(sent[1]!.message), [1, 3, 5, 7]);
});

test('a backup acks a batch with one batch, and the primary answers every write it completes', () => {
  const planes = threeNodes();
  const a = planes.get('A')!;
  keyPerPartition().forEach((key, i) => a.execute(i + 1, { op: 'set', key, value: enc(i) }, now));
  const replies: number[] = [];
  for (const { to, message } of a.flush().send) {
    const answer = planes.get(to)!.receive('A', message, now);
    assert.equal(answer.send.length, 1, `${to} answers with one message`);
    const [ack] = answer.send;
    assert.equal(ack!.to, 'A');
    assert.ok(ack!.message.type === 'batch');
    assert.equal(ack!.message.messages.length, partitions / 2);
    assert.ok(ack!.message.messages.every((m) => m.type === 'ack'));
    const released = a.receive(to, ack!.message, now);
    assert.equal(released.replies.length, partitions / 2, `${to}'s acks release its writes`);
    for (const r of released.replies) {
      assert.ok(r.outcome.ok);
      replies.push(r.requestId);
    }
  }
  assert.deepEqual(
    replies.sort((x, y) => x - y),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
});

test('a batch is cut at about a MiB, and the partitions keep their order across the cut', () => {
  const planes = threeNodes();
  const a = planes.get('A')!;
  const big = new Uint8Array(300 * 1024).fill(7);
  keyPerPartition().forEach((key, i) => a.execute(i + 1, { op: 'set', key, value: big }, now));
  const sent = a.flush().send;
  const toB = sent.filter((s) => s.to === 'B').map((s) => s.message);
  // Four appends of 300 KiB to B: three fit under a MiB, the fourth starts a new message.
  assert.equal(toB.length, 2);
  assert.deepEqual(appendsIn(toB[0]!), [0, 2, 4]);
  assert.ok(toB[1]!.type === 'append' && toB[1]!.partition === 6, 'a lone message is sent bare');
  for (const { to, message } of sent) {
    const b = planes.get(to)!;
    b.receive('A', message, now);
  }
  assert.equal(planes.get('B')!.stats().entries + planes.get('C')!.stats().entries, partitions);
});

test('a partition written again after a flush is in the next flush, once however often it was written', () => {
  const planes = threeNodes();
  const a = planes.get('A')!;
  const [key0, key1] = keyPerPartition();
  a.execute(1, { op: 'set', key: key0!, value: enc(1) }, now);
  const first = a.flush().send;
  assert.equal(first.length, 1);
  assert.ok(first[0]!.message.type === 'append' && first[0]!.message.partition === 0);
  assert.deepEqual(a.flush().send, [], 'nothing new, nothing sent');
  a.execute(2, { op: 'set', key: key0!, value: enc(2) }, now);
  a.execute(3, { op: 'set', key: key1!, value: enc(3) }, now);
  a.execute(4, { op: 'set', key: key0!, value: enc(4) }, now);
  const sent = a.flush().send;
  assert.deepEqual(
    sent.map((s) => s.to),
    ['B', 'C'],
  );
  const toB = sent[0]!.message;
  assert.ok(toB.type === 'append' && toB.partition === 0, 'one append for partition 0');
  assert.equal(toB.mutations.length, 2, 'both of its writes, in one append');
});
