/**
 * `npm run failover-trials`: the failover time of real node processes, measured over many
 * SIGKILL trials, and the acknowledged writes lost.
 *
 * Each trial starts a fresh cluster of `statehouse node` processes on loopback with the
 * default settings (ports and data dirs aside), runs a continuous write load, SIGKILLs a node
 * holding primaries, and measures the time from the signal until every partition accepted a
 * write again (test/helpers/failover-trial.ts); then it reads every acknowledged write back.
 *
 *   npm run failover-trials                          20 trials, sync writes, a non-leader victim
 *   npm run failover-trials -- --durability async    the same with async writes
 *   npm run failover-trials -- --victim leader       kill the Raft leader (an election first)
 *   npm run failover-trials -- --trials 5 --nodes 5 --json results.json
 *   npm run failover-trials -- --failure-timeout 600ms   another failure timeout than the default
 *
 * Exits 1 when a sync run lost an acknowledged write or a trial failed.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeTrial, sigkillTrial, type TrialResult } from '../test/helpers/failover-trial.js';
import { quantile } from '../test/helpers/load.js';
import { ProcessCluster } from '../test/helpers/process-cluster.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    durability: { type: 'string', default: 'sync' },
    victim: { type: 'string', default: 'follower' },
    nodes: { type: 'string', default: '3' },
    partitions: { type: 'string' },
    'failure-timeout': { type: 'string' },
    callers: { type: 'string', default: '8' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'Usage: npm run failover-trials -- [--trials N] [--durability sync|async] [--victim follower|leader]\n' +
      '                                 [--nodes N] [--partitions N] [--failure-timeout DURATION]\n' +
      '                                 [--callers N] [--json FILE]',
  );
  process.exit(0);
}
const trials = Number(values.trials);
const nodes = Number(values.nodes);
const callers = Number(values.callers);
const durability = values.durability;
const victim = values.victim;
if (!Number.isInteger(trials) || trials < 1) throw new Error('--trials must be a positive integer');
if (!Number.isInteger(nodes) || nodes < 2) throw new Error('--nodes must be an integer from 2');
if (!Number.isInteger(callers) || callers < 1) throw new Error('--callers must be positive');
if (durability !== 'sync' && durability !== 'async')
  throw new Error('--durability must be sync or async');
if (victim !== 'follower' && victim !== 'leader')
  throw new Error('--victim must be follower or leader');
// Node flags beyond the defaults, only when asked: the figures are for the default settings.
const args = [
  ...(values.partitions === undefined ? [] : ['--partitions', values.partitions]),
  ...(values['failure-timeout'] === undefined
    ? []
    : ['--failure-timeout', values['failure-timeout']]),
];

/** A trial this slow prints how its slowest partition's writes failed, and the node logs. */
const slowTrialMs = 3_000;

let current: ProcessCluster | null = null;
const interrupt = (): void => {
  void (current?.stop() ?? Promise.resolve()).then(() => process.exit(130));
};
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

console.log(
  `${trials} trials: ${nodes} node processes, ${args.length > 0 ? `default settings except ${args.join(' ')}` : 'default settings'}, ` +
    `${callers} callers writing ${durability}, SIGKILL of ${victim === 'leader' ? 'the Raft leader' : 'a node with primaries that is not the Raft leader'}`,
);
const results: TrialResult[] = [];
const failures: string[] = [];
for (let i = 1; i <= trials; i++) {
  const started = Date.now();
  try {
    current = await ProcessCluster.start({ size: nodes, args });
    const r = await sigkillTrial(current, { victim, durability, callers });
    results.push(r);
    console.log(
      `trial ${i}: ${describeTrial(r)} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    if (r.failoverMs > slowTrialMs)
      console.log(
        `  slow: the probe's calls on partition ${r.slowestPartition}:\n    ${r.slowestErrors.join('\n    ')}\n${current.logs()}`,
      );
    if (r.verification.lost.length > 0)
      console.log(`  lost, first few: ${JSON.stringify(r.verification.lost.slice(0, 5))}`);
  } catch (error) {
    const message = (error as Error).stack ?? String(error);
    failures.push(`trial ${i}: ${message}`);
    console.log(`trial ${i} FAILED: ${message}\n${current?.logs() ?? ''}`);
  } finally {
    await current?.stop();
    current = null;
  }
}

const times = results.map((r) => r.failoverMs);
const lost = results.reduce((n, r) => n + r.verification.lost.length, 0);
const unreadable = results.reduce((n, r) => n + r.verification.unreadable.length, 0);
const acknowledged = results.reduce((n, r) => n + r.record.writes.acknowledged, 0);
const stalls = results.map((r) => r.longestAckGapMs);
const summary = {
  trials,
  completed: results.length,
  failed: failures.length,
  nodes,
  durability,
  victim,
  failoverMs: {
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    max: Math.max(...times),
    min: Math.min(...times),
  },
  longestLoadStallMs: { p50: quantile(stalls, 0.5), max: Math.max(...stalls) },
  acknowledgedWrites: acknowledged,
  lostAcknowledgedWrites: lost,
  lostPerTrial: results.map((r) => r.verification.lost.length),
  unreadableWrites: unreadable,
};
console.log(
  [
    '',
    `failover (SIGKILL until every partition accepts writes) over ${results.length} trials: ` +
      `p50 ${summary.failoverMs.p50} ms, p99 ${summary.failoverMs.p99} ms, max ${summary.failoverMs.max} ms ` +
      `(min ${summary.failoverMs.min} ms; with fewer than 100 trials p99 is the largest)`,
    `longest stall of the load: p50 ${summary.longestLoadStallMs.p50} ms, max ${summary.longestLoadStallMs.max} ms`,
    `acknowledged ${durability} writes: ${acknowledged}, lost ${lost} (per trial: ${summary.lostPerTrial.join(' ')}), unreadable ${unreadable}`,
    ...(failures.length > 0 ? [`${failures.length} trials failed`] : []),
  ].join('\n'),
);
if (values.json !== undefined)
  writeFileSync(values.json, JSON.stringify({ ...summary, failures }, null, 2));
process.exit(failures.length > 0 || (durability === 'sync' && lost > 0) ? 1 : 0);
