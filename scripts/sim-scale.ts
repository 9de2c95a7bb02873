/**
 * The control plane at scale, under the deterministic simulator (test/sim/control-plane):
 * for each cluster size, partition count and seed, build the cluster, run it for some virtual
 * minutes with 1% message loss and delays up to 100 ms, fail one follower, fail the Raft
 * leader, add one node; print what each cost. Every figure is measured here, on the real
 * ControlPlane of every node with start-node.ts's defaults.
 *
 *   npm run sim:scale                                   # 100 and 200 nodes, P 256 and 1024
 *   npm run sim:scale -- --nodes 100 --partitions 256 --seeds 3 --minutes 5
 *
 * Columns: msg/s counts messages sent plus received per second of virtual time; the leader is
 * the hot spot (it heartbeats every member every tick and hears every answer). "moved/min" is
 * copies made again over the least possible (the copies the dead node held; for a join, the new
 * node's share P·RF/(N+1)); "off" is copies that left a surviving node (0: only the lost
 * copies moved). detected ms runs from the crash to the commit of the death (the failure timeout
 * is 600 ms; a leader's death waits for an election first). wall s/vmin is wall-clock seconds per virtual minute in the lossy run, with
 * wire bytes measured (an encoding per message); cpu s is the process's CPU time for it.
 */
import { parseArgs } from 'node:util';
import {
  buildCluster,
  failOne,
  joinOne,
  runUnderLoss,
} from '../test/sim/control-plane/scale-scenarios.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100,200' },
    partitions: { type: 'string', default: '256,1024' },
    seeds: { type: 'string', default: '2' },
    minutes: { type: 'string', default: '2' },
  },
});

function numbers(list: string, name: string): number[] {
  const parsed = list.split(',').map(Number);
  if (parsed.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`--${name} must be positive integers separated by commas, got ${list}`);
  }
  return parsed;
}

const nodeCounts = numbers(values.nodes, 'nodes');
const partitionCounts = numbers(values.partitions, 'partitions');
const [seeds] = numbers(values.seeds, 'seeds');
const [minutes] = numbers(values.minutes, 'minutes');

const header = [
  'nodes',
  'P',
  'seed',
  'build s',
  'virtual s',
  'wall s/vmin',
  'cpu s/vmin',
  'leader msg/s',
  'leader KiB/s',
  'follower msg/s (median, max)',
  'false det.',
  'elections',
  'failure moved/min, off',
  'leader failure moved/min, off, elections',
  'detected ms (failure, leader)',
  'join moved/share, off',
];
const rows: string[][] = [];

for (const nodes of nodeCounts) {
  for (const partitions of partitionCounts) {
    for (let seed = 1; seed <= (seeds ?? 1); seed++) {
      const builtAt = performance.now();
      const sim = await buildCluster({ seed, nodes, partitions, measureBytes: true });
      const buildS = (performance.now() - builtAt) / 1000;
      const cpuBefore = process.cpuUsage();
      const steady = runUnderLoss(sim, (minutes ?? 1) * 60, 0.01, 100);
      const cpu = process.cpuUsage(cpuBefore);
      const failure = failOne(sim, 'follower');
      const leaderFailure = failOne(sim, 'leader');
      const join = await joinOne(sim, `n${nodes + 1}`);
      const t = steady.traffic;
      const msgs = (r: { sent: number; received: number }): string =>
        (r.sent + r.received).toFixed(0);
      const falseDetections =
        steady.falseDetections +
        failure.falseDetections +
        leaderFailure.falseDetections +
        join.falseDetections;
      rows.push([
        String(nodes),
        String(partitions),
        String(seed),
        buildS.toFixed(0),
        String(steady.virtualSeconds),
        ((steady.wallMs / 1000) * (60 / steady.virtualSeconds)).toFixed(1),
        (((cpu.user + cpu.system) / 1e6) * (60 / steady.virtualSeconds)).toFixed(1),
        msgs(t.leader),
        ((t.leader.bytesSent + t.leader.bytesReceived) / 1024).toFixed(0),
        `${msgs(t.followerMedian)}, ${msgs(t.followerMax)}`,
        String(falseDetections),
        `${steady.elections} + ${leaderFailure.elections}`,
        `${failure.created}/${failure.lost}, ${failure.movedOffSurvivors}`,
        `${leaderFailure.created}/${leaderFailure.lost}, ${leaderFailure.movedOffSurvivors}, ${leaderFailure.elections}`,
        `${failure.detectedAfterMs}, ${leaderFailure.detectedAfterMs}`,
        `${join.created}/${join.share.toFixed(1)}, ${join.movedBetweenOldNodes}`,
      ]);
      if (sim.violations.length > 0) {
        console.error(`seed ${seed}: ${sim.violations.length} violations: ${sim.violations[0]}`);
        process.exitCode = 1;
      }
      process.stderr.write(`done: ${nodes} nodes, P ${partitions}, seed ${seed}\n`);
    }
  }
}

console.log(`| ${header.join(' | ')} |`);
console.log(`| ${header.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
console.log(
  `\nelections: during the lossy run + after the leader's failure. ` +
    `false det.: live nodes declared dead, over the whole run.`,
);
