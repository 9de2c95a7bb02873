/**
 * A fenced primary (DataPlaneOptions.fence) serves only while it holds the control-plane
 * leader's grant, even when no copy could be promoted over it: the case peer leases leave
 * open, where it is its partition's only in-sync copy.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/replication/index.js';
import type { Outcome } from '../../src/store/index.js';
import { enc } from '../store/helpers.js';

function soleCopyPrimary(grantUntil: { value: number }, fenced: boolean): DataPlane {
  const plane = new DataPlane({
    nodeId: 'A',
    address: 'A:1',
    partitionCount: 1,
    keyBytesMax: 1024,
    valueBytesMax: 1 << 20,
    memoryLimitBytes: Infinity,
    ...(fenced && { fence: { leaderGrantUntil: () => grantUntil.value } }),
  });
  plane.applyTable(1, [{ epoch: 1, primary: 'A', backups: [], inSync: ['A'] }], (m) => `${m}:1`, 0);
  plane.tick(0);
  return plane;
}

function setAt(plane: DataPlane, requestId: number, now: number): Outcome {
  const effects = plane.execute(requestId, { op: 'set', key: 'k', value: enc(requestId) }, now);
  const reply = effects.replies.find((r) => r.requestId === requestId);
  assert.ok(reply !== undefined, 'a sole copy answers at once');
  return reply.outcome;
}

test('a fenced primary serves while the leader grant runs and refuses UNAVAILABLE once it ran out', () => {
  const grant = { value: 1_000 };
  const plane = soleCopyPrimary(grant, true);
  assert.equal(setAt(plane, 1, 999).ok, true);
  const refused = setAt(plane, 2, 1_000);
  assert.equal(refused.ok, false);
  assert.ok(!refused.ok && refused.code === 'UNAVAILABLE', JSON.stringify(refused));
  assert.match(
    !refused.ok ? refused.message : '',
    /no current grant from the control-plane leader/,
  );
  // A renewed grant lets it serve again.
  grant.value = 3_000;
  assert.equal(setAt(plane, 3, 2_000).ok, true);
});

test('an unfenced sole copy serves without any leader grant', () => {
  const plane = soleCopyPrimary({ value: -Infinity }, false);
  assert.equal(setAt(plane, 1, 5_000).ok, true);
});

test('a write its backup acknowledges after the fenced primary lost its grant is answered in doubt, not done', () => {
  const grant = { value: 10_000 };
  const planes = new Map<string, DataPlane>();
  for (const id of ['A', 'B']) {
    planes.set(
      id,
      new DataPlane({
        nodeId: id,
        address: `${id}:1`,
        partitionCount: 1,
        keyBytesMax: 1024,
        valueBytesMax: 1 << 20,
        memoryLimitBytes: Infinity,
        fence: { leaderGrantUntil: () => (id === 'A' ? grant.value : Infinity) },
      }),
    );
  }
  const inbox: { to: string; from: string; message: unknown }[] = [];
  const replies = new Map<number, Outcome>();
  const collect = (from: string, effects: ReturnType<DataPlane['tick']>): void => {
    for (const r of effects.replies) replies.set(r.requestId, r.outcome);
    for (const s of effects.send) inbox.push({ to: s.to, from, message: s.message });
  };
  const deliver = (now: number): void => {
    while (inbox.length > 0) {
      const { to, from, message } = inbox.shift()!;
      const plane = planes.get(to)!;
      collect(to, plane.receive(from, message as never, now));
      collect(to, plane.flush());
    }
  };
  const placement = { epoch: 1, primary: 'A', backups: ['B'], inSync: ['A', 'B'] };
  for (const [id, plane] of planes)
    collect(
      id,
      plane.applyTable(1, [placement], (m) => `${m}:1`, 0),
    );
  for (let now = 0; now <= 200; now += 50) {
    for (const [id, plane] of planes) collect(id, plane.tick(now));
    deliver(now);
  }
  const a = planes.get('A')!;
  collect('A', a.execute(1, { op: 'set', key: 'k', value: enc(1) }, 250));
  collect('A', a.flush());
  assert.equal(replies.has(1), false, 'waits for its backup');
  // The grant runs out while the append and its acknowledgement travel.
  grant.value = 260;
  deliver(270);
  const outcome = replies.get(1);
  assert.ok(outcome !== undefined && !outcome.ok, JSON.stringify(outcome));
  assert.equal(outcome.code, 'UNAVAILABLE');
  assert.equal(outcome.meta?.inDoubt, true);
});
