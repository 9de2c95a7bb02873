import test from 'node:test';
import assert from 'node:assert/strict';
import { LeaseTable, leaseOptions } from '../../src/replication/leases.js';

const leaseMs = 400;

/**
 * A holds grants from B after pinging it at `at`, B having applied `bVersion`: B echoes at
 * its next tick, on its own ping to A when it pings A, in a plain echo otherwise.
 */
function pingAndEcho(a: LeaseTable, b: LeaseTable, at: number, aVersion = 1, bVersion = 1): void {
  const ping = a.pings(aVersion, at).find((p) => p.to === 'B');
  assert.ok(ping, 'A pings B');
  b.receive('A', ping.message, bVersion, at + 1);
  const echo = b.pings(bVersion, at + 2).find((p) => p.to === 'A');
  assert.ok(echo, 'B echoes A at its next tick');
  a.receive('B', echo.message, aVersion, at + 3);
}

test('a primary holds a lease from a copy until leaseMs after the ping that copy echoed', () => {
  const a = new LeaseTable(leaseOptions(leaseMs));
  const b = new LeaseTable(leaseOptions(leaseMs));
  a.setPeers(new Set(['B']), 0);
  assert.equal(a.heldFromAll(['B'], 0), false, 'no grant before any echo');
  pingAndEcho(a, b, 100);
  assert.equal(a.heldFromAll(['B'], 100 + leaseMs - 1), true);
  assert.equal(a.heldFromAll(['B'], 100 + leaseMs), false, 'the grant runs from the send time');
});

test('a lease needs a grant from every copy, not just one', () => {
  const a = new LeaseTable(leaseOptions(leaseMs));
  const b = new LeaseTable(leaseOptions(leaseMs));
  a.setPeers(new Set(['B', 'C']), 0);
  pingAndEcho(a, b, 100);
  assert.equal(a.heldFromAll(['B'], 150), true);
  assert.equal(a.heldFromAll(['B', 'C'], 150), false);
});

test('a peer is silent since the ping its last echo answered, or since it became a peer', () => {
  const a = new LeaseTable(leaseOptions(leaseMs));
  const b = new LeaseTable(leaseOptions(leaseMs));
  a.setPeers(new Set(['B']), 50);
  assert.equal(a.silentFor('B', 90), 40, 'no echo yet: silent since it became a peer');
  pingAndEcho(a, b, 100);
  assert.equal(a.silentFor('B', 1_000), 900);
});

test('an echo from a node that applied a newer table than this one renews nothing', () => {
  const a = new LeaseTable(leaseOptions(leaseMs));
  const b = new LeaseTable(leaseOptions(leaseMs));
  a.setPeers(new Set(['B']), 0);
  pingAndEcho(a, b, 100, 1, 2);
  assert.equal(a.heldFromAll(['B'], 150), false, 'B may have become primary in table 2');
  pingAndEcho(a, b, 200, 2, 2);
  assert.equal(a.heldFromAll(['B'], 250), true, 'once A applied table 2 too, it counts');
});

test('an echo of a ping from the future is ignored', () => {
  const a = new LeaseTable(leaseOptions(leaseMs));
  a.receive('B', { type: 'leaseEcho', sentAt: 10_000, version: 0 }, 1, 100);
  assert.equal(a.heldFromAll(['B'], 200), false);
});

test('a new primary waits until nodes it vouched for confirm the change or their grants end', () => {
  const options = leaseOptions(leaseMs);
  const b = new LeaseTable(options);
  // B echoed A's ping (A at table 1) at time 1000, then applied table 2, which made B primary.
  b.receive('A', { type: 'leasePing', sentAt: 990, version: 1 }, 1, 995);
  assert.equal(b.settled(2, 999), true, 'nothing echoed yet: nobody holds a grant from B');
  b.pings(1, 1_000);
  assert.equal(b.settled(2, 1_001), false, 'A may still believe it leads');
  assert.equal(b.settled(2, 1_000 + options.grantWaitMs - 1), false);
  assert.equal(b.settled(2, 1_000 + options.grantWaitMs), true, 'A’s grant has run out');
  // Or A says it applied table 2: no need to wait.
  const c = new LeaseTable(options);
  c.receive('A', { type: 'leasePing', sentAt: 990, version: 1 }, 1, 995);
  c.pings(1, 1_000);
  c.receive('A', { type: 'leasePing', sentAt: 1_040, version: 2 }, 2, 1_050);
  assert.equal(c.settled(2, 1_051), true);
});

test('echoes a new primary sends after it applied the change do not hold it back', () => {
  const options = leaseOptions(leaseMs);
  const b = new LeaseTable(options);
  // B echoed A at table 1, then applied table 2 (B primary). A cannot hear B (a one-way
  // partition) and goes on pinging at table 1; B echoes with version 2, which A would count
  // only after applying table 2 itself.
  b.receive('A', { type: 'leasePing', sentAt: 990, version: 1 }, 1, 995);
  b.pings(1, 1_000);
  for (let t = 1_050; t < 3_000; t += 50) {
    b.receive('A', { type: 'leasePing', sentAt: t - 10, version: 1 }, 2, t - 5);
    b.pings(2, t);
    // Held only by the echo at table 1, sent at 1000; never by the later ones.
    assert.equal(b.settled(2, t), t >= 1_000 + options.grantWaitMs, `at ${t}`);
  }
  // And such an echo indeed renews nothing at A while A is at table 1, plain or on a ping.
  const a = new LeaseTable(options);
  a.setPeers(new Set(['B']), 0);
  a.receive('B', { type: 'leaseEcho', sentAt: 2_940, version: 2 }, 1, 2_960);
  a.receive('B', { type: 'leasePing', sentAt: 2_955, version: 2, echo: 2_940 }, 1, 2_960);
  assert.equal(a.heldFromAll(['B'], 2_961), false);
});

test('the wait for a grant covers clock-rate drift between two nodes', () => {
  const options = leaseOptions(leaseMs);
  assert.ok(options.grantWaitMs >= leaseMs * 1.2);
});

test('peers are pinged for as long as they share a partition, and two leases after', () => {
  const a = new LeaseTable(leaseOptions(leaseMs));
  a.setPeers(new Set(['B', 'C']), 0);
  assert.deepEqual(
    a.pings(1, 60_000).map((p) => p.to),
    ['B', 'C'],
    'no table change for a minute: still pinged',
  );
  a.setPeers(new Set(['C']), 60_000);
  assert.deepEqual(
    a
      .pings(1, 60_000 + 2 * leaseMs - 1)
      .map((p) => p.to)
      .sort(),
    ['B', 'C'],
  );
  assert.deepEqual(
    a.pings(1, 60_000 + 2 * leaseMs).map((p) => p.to),
    ['C'],
  );
});

test('the echo rides on the next ping to that peer: one message each way per tick', () => {
  const a = new LeaseTable(leaseOptions(leaseMs));
  const b = new LeaseTable(leaseOptions(leaseMs));
  a.setPeers(new Set(['B']), 0);
  b.setPeers(new Set(['A']), 0);
  const [ping] = a.pings(1, 100);
  assert.deepEqual(ping, { to: 'B', message: { type: 'leasePing', sentAt: 100, version: 1 } });
  b.receive('A', ping!.message, 1, 101);
  assert.deepEqual(b.pings(1, 130), [
    { to: 'A', message: { type: 'leasePing', sentAt: 130, version: 1, echo: 100 } },
  ]);
  a.receive('B', { type: 'leasePing', sentAt: 130, version: 1, echo: 100 }, 1, 131);
  assert.equal(a.heldFromAll(['B'], 100 + leaseMs - 1), true);
  assert.equal(a.heldFromAll(['B'], 100 + leaseMs), false, 'the grant runs from the ping sent');
  // A owes B an echo now, and pays it with its next ping.
  assert.deepEqual(a.pings(1, 150), [
    { to: 'B', message: { type: 'leasePing', sentAt: 150, version: 1, echo: 130 } },
  ]);
});

test('a node this one does not ping gets a plain echo at the next tick', () => {
  const b = new LeaseTable(leaseOptions(leaseMs));
  b.receive('A', { type: 'leasePing', sentAt: 100, version: 3 }, 2, 101);
  assert.deepEqual(b.pings(2, 120), [
    { to: 'A', message: { type: 'leaseEcho', sentAt: 100, version: 2 } },
  ]);
  assert.deepEqual(b.pings(2, 170), [], 'an echo is sent once');
});

test('of several pings between two ticks, the newest is echoed, once', () => {
  const b = new LeaseTable(leaseOptions(leaseMs));
  b.setPeers(new Set(['A']), 0);
  b.receive('A', { type: 'leasePing', sentAt: 100, version: 1 }, 1, 101);
  b.receive('A', { type: 'leasePing', sentAt: 90, version: 1 }, 1, 102);
  b.receive('A', { type: 'leasePing', sentAt: 120, version: 1 }, 1, 121);
  assert.deepEqual(b.pings(1, 130), [
    { to: 'A', message: { type: 'leasePing', sentAt: 130, version: 1, echo: 120 } },
  ]);
  assert.deepEqual(b.pings(1, 180), [
    { to: 'A', message: { type: 'leasePing', sentAt: 180, version: 1 } },
  ]);
});
