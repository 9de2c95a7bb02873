/**
 * Lease pings cost an idle cluster most of its wake-ups, so they go every other tick, and a
 * ping rides early on whatever the node sends that peer anyway in a turn (a Raft heartbeat,
 * its answer, replication). DataPlane.tick and DataPlane.ridingPings, on real planes.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { leasePingEveryTicksDefault, type PlaneEffects } from '../../src/replication/index.js';
import { testPlane } from './two-planes.js';

const now = 1_000;

/** Node A, sharing its one partition with B as its backup. */
function planeOfA() {
  const a = testPlane('A', 1);
  a.applyTable(
    1,
    [{ epoch: 1, primary: 'A', backups: ['B'], inSync: ['A', 'B'] }],
    (m) => `${m}:1`,
    now,
  );
  return a;
}

function pingsTo(effects: PlaneEffects, to: string): number {
  let count = 0;
  for (const s of effects.send) {
    if (s.to !== to) continue;
    const messages = s.message.type === 'batch' ? s.message.messages : [s.message];
    count += messages.filter((m) => m.type === 'leasePing').length;
  }
  return count;
}

test('a node pings each peer once every leasePingEveryTicksDefault ticks', () => {
  const a = planeOfA();
  const perTick = Array.from({ length: 4 * leasePingEveryTicksDefault }, (_, i) =>
    pingsTo(a.tick(now + 50 * i), 'B'),
  );
  assert.equal(leasePingEveryTicksDefault, 2);
  assert.deepEqual(perTick, [1, 0, 1, 0, 1, 0, 1, 0]);
});

test('a ping rides on traffic to a peer not pinged this tick, and the round then skips it', () => {
  const a = planeOfA();
  assert.equal(pingsTo(a.tick(now), 'B'), 1, 'the first round pings B');
  assert.equal(
    pingsTo(
      a.ridingPings(() => true, now + 10),
      'B',
    ),
    0,
    'B was pinged this tick',
  );
  assert.equal(pingsTo(a.tick(now + 50), 'B'), 0, 'not a round tick');
  assert.equal(
    pingsTo(
      a.ridingPings(() => true, now + 60),
      'B',
    ),
    1,
    'it rides on a message to B',
  );
  assert.equal(
    pingsTo(
      a.ridingPings(() => true, now + 70),
      'B',
    ),
    0,
    'once a tick at most',
  );
  assert.equal(pingsTo(a.tick(now + 100), 'B'), 0, 'the round skips B: pinged a tick ago');
  assert.equal(pingsTo(a.tick(now + 150), 'B'), 1, 'and pings it two ticks after the ride');
});

test('no ping rides where nothing else goes', () => {
  const a = planeOfA();
  a.tick(now);
  a.tick(now + 50);
  assert.equal(
    pingsTo(
      a.ridingPings(() => false, now + 60),
      'B',
    ),
    0,
  );
});
