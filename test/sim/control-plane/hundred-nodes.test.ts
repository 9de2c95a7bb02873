/**
 * The control plane at 100 nodes (issue 5): heartbeats, Raft and placement stay stable. The
 * real ControlPlane of every node runs under the simulator with start-node.ts's defaults
 * (tick 50 ms, failure timeout 600 ms, 3 voters, the other 97 learners) and the default
 * partition count, 256. Larger and longer runs: `npm run sim:scale`.
 *
 * The tests share one cluster and run in file order (node:test runs a file's tests one after
 * another): building 100 nodes is most of the cost, and each test starts from a cluster that
 * placement has settled, which each test checks first. The figures are printed as diagnostics.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterSim } from './cluster-sim.js';
import {
  buildCluster,
  failOne,
  joinOne,
  runUnderLoss,
  type TrafficReport,
} from './scale-scenarios.js';

const nodes = 100;
const partitions = 256;
const seed = Number(process.env['SIM_SEED'] ?? 1);

let cluster: Promise<ClusterSim> | undefined;
function hundredNodes(): Promise<ClusterSim> {
  cluster ??= buildCluster({ seed, nodes, partitions, measureBytes: true });
  return cluster;
}

function describeTraffic(t: TrafficReport): string {
  const f = (x: number): string => x.toFixed(0);
  const kb = (x: number): string => (x / 1024).toFixed(1);
  return (
    `leader ${f(t.leader.sent)} msg/s out (${kb(t.leader.bytesSent)} KiB/s), ` +
    `${f(t.leader.received)} in (${kb(t.leader.bytesReceived)} KiB/s); ` +
    `follower median ${f(t.followerMedian.sent)} out (${kb(t.followerMedian.bytesSent)} KiB/s), ` +
    `${f(t.followerMedian.received)} in; busiest follower ` +
    `${f(t.followerMax.sent + t.followerMax.received)} in + out`
  );
}

test('a 100-node cluster builds with no member declared dead and one election', async (t) => {
  const started = performance.now();
  const sim = await hundredNodes();
  t.diagnostic(`built in ${((performance.now() - started) / 1000).toFixed(1)} s of wall time`);
  assert.equal([...sim.nodes.values()].filter((n) => n.up).length, nodes);
  assert.deepEqual(sim.deaths, []);
  assert.equal(sim.elections, 1);
  assert.deepEqual(sim.violations, []);
});

test('a 100-node cluster with 1% message loss and delays up to 100 ms declares no live node dead over one virtual minute', async (t) => {
  const sim = await hundredNodes();
  assert.ok(sim.settled());
  const r = runUnderLoss(sim, 60, 0.01, 100);
  t.diagnostic(
    `${r.virtualSeconds} virtual s in ${(r.wallMs / 1000).toFixed(1)} s of wall time; ` +
      `false detections ${r.falseDetections}, elections ${r.elections}`,
  );
  t.diagnostic(`messages per node: ${describeTraffic(r.traffic)}`);
  assert.equal(r.falseDetections, 0);
  assert.equal(r.elections, 0, 'the leader kept its term');
  // The leader heartbeats every member every tick and hears every answer: about 2 * (N-1)
  // messages per tick, O(N), never O(N^2). A follower exchanges one pair per tick.
  const perTick = 1000 / 50;
  assert.ok(r.traffic.leader.sent <= 1.1 * (nodes - 1) * perTick, 'leader sends O(N) per tick');
  assert.ok(r.traffic.followerMax.sent <= 1.5 * perTick, 'a follower sends O(1) per tick');
  assert.deepEqual(sim.violations, []);
});

test('after one real failure in a 100-node cluster, the copies moved are the copies the dead node held, and no other node loses a copy', async (t) => {
  const sim = await hundredNodes();
  assert.ok(sim.settled());
  const r = failOne(sim, 'follower');
  t.diagnostic(
    `${r.victim} held ${r.lost} copies; ${r.created} made again, ${r.movedOffSurvivors} moved ` +
      `off survivors; declared dead ${r.detectedAfterMs} ms after the crash; ` +
      `false detections ${r.falseDetections}, elections ${r.elections}`,
  );
  assert.equal(r.created, r.lost);
  assert.equal(r.movedOffSurvivors, 0);
  assert.equal(r.falseDetections, 0);
  assert.equal(r.elections, 0);
  assert.ok(r.detectedAfterMs <= 600 + 10 * 50, `detected after ${r.detectedAfterMs} ms`);
  assert.deepEqual(sim.violations, []);
});

test("the Raft leader's failure in a 100-node cluster elects one new leader and triggers no false failure detections", async (t) => {
  const sim = await hundredNodes();
  assert.ok(sim.settled());
  const r = failOne(sim, 'leader');
  t.diagnostic(
    `old leader ${r.victim} held ${r.lost} copies; ${r.created} made again, ` +
      `${r.movedOffSurvivors} moved off survivors; declared dead ${r.detectedAfterMs} ms after ` +
      `the crash; elections ${r.elections}, false detections ${r.falseDetections}`,
  );
  assert.equal(r.elections, 1);
  assert.equal(r.leadersAfter, 1);
  assert.equal(r.falseDetections, 0);
  assert.equal(r.created, r.lost);
  assert.equal(r.movedOffSurvivors, 0);
  assert.deepEqual(sim.violations, []);
});

test('a join to a 100-node cluster moves about P·RF/(N+1) copies, all of them to the new node', async (t) => {
  const sim = await hundredNodes();
  assert.ok(sim.settled());
  const r = await joinOne(sim, 'n101');
  t.diagnostic(
    `${r.created} copies made (share P·RF/(N+1) = ${r.share.toFixed(2)}), ` +
      `${r.movedBetweenOldNodes} between old nodes; false detections ${r.falseDetections}`,
  );
  assert.ok(Math.abs(r.created - r.share) < 1, `${r.created} copies for a share of ${r.share}`);
  assert.equal(r.movedBetweenOldNodes, 0);
  assert.equal(r.falseDetections, 0);
  assert.deepEqual(sim.violations, []);
});
