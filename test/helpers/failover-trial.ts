/**
 * One SIGKILL failover trial on a running process cluster, shared by the tests in
 * test/cluster/ and `npm run failover-trials`:
 *
 * 1. wait until the cluster settled, pick the victim: a node holding primaries that is not the
 *    Raft leader (or the leader itself, for the slower variant with an election first);
 * 2. start the write load and a probe client, check that every partition accepts a write,
 *    let the load run for a while;
 * 3. SIGKILL the victim, and from the moment the signal is sent, write a key of every
 *    partition in a loop until each accepts one: the last partition's first success is the
 *    failover time;
 * 4. keep the load running a little longer, stop it, and read every acknowledged write back.
 */
import { connect } from '../../src/client/index.js';
import {
  WriteLoad,
  describeErrors,
  keyPerPartition,
  longestAckGap,
  partitionProbe,
  type Durability,
  type LoadRecord,
  type Verification,
  verifyAcknowledged,
} from './load.js';
import type { ProcessCluster } from './process-cluster.js';

export interface TrialOptions {
  /** `follower`: a node with primaries that does not lead Raft. `leader`: the Raft leader. */
  victim: 'follower' | 'leader';
  durability: Durability;
  /** Live nodes expected before the kill. Default: the live processes. */
  members?: number;
  /** Writes acknowledged before the kill, and again after recovery. Default 300. */
  writesAround?: number;
  callers?: number;
}

export interface TrialResult {
  victim: string;
  /** ms from SIGKILL until every partition accepted a write again. */
  failoverMs: number;
  slowestPartition: number;
  /** The probe's failed calls on the slowest partition, for a report of a slow trial. */
  slowestErrors: string[];
  /** Partitions the victim was primary of, per the status before the kill. */
  victimPrimaries: number;
  record: LoadRecord;
  verification: Verification;
  /** The longest time the load went without an acknowledgement, in ms. */
  longestAckGapMs: number;
}

export async function sigkillTrial(
  cluster: ProcessCluster,
  options: TrialOptions,
): Promise<TrialResult> {
  const before = await cluster.settled(options.members ?? cluster.alive().length);
  const victimMember =
    options.victim === 'leader'
      ? before.members.find((m) => m.id === before.leader)
      : before.members.find(
          (m) => m.id !== before.leader && m.state === 'active' && m.primaries > 0,
        );
  if (victimMember === undefined) throw new Error(`no ${options.victim} with primaries to kill`);
  const victim = cluster.byAddress(victimMember.address);
  const survivors = cluster.alive().filter((n) => n !== victim);
  const seeds = cluster.seeds();

  const probeClient = await connect({ seeds, timeoutMs: 5_000, name: 'failover-probe' });
  const load = await WriteLoad.start({
    seeds,
    durability: options.durability,
    callers: options.callers ?? 8,
    prefix: `trial-${Date.now()}`,
  });
  let record: LoadRecord | null = null;
  try {
    const keys = keyPerPartition(probeClient.limits.partitionCount);
    // Every partition takes writes before the kill, so what the probe measures is the kill.
    await partitionProbe(probeClient, keys, Date.now(), {
      durability: options.durability,
      timeoutMs: 30_000,
    });
    await load.acknowledgedMore(options.writesAround ?? 300);

    const killedAt = await cluster.kill(victim);
    const probe = await partitionProbe(probeClient, keys, killedAt, {
      durability: options.durability,
      timeoutMs: 60_000,
    });
    await load.acknowledgedMore(options.writesAround ?? 300);
    record = await load.stop();
    const verification = await verifyAcknowledged(
      survivors.map((n) => n.address),
      record,
    );
    return {
      victim: `${victim.name} (${victimMember.id}${victimMember.id === before.leader ? ', Raft leader' : ''})`,
      failoverMs: probe.allMs,
      slowestPartition: probe.slowest,
      slowestErrors: probe.slowestErrors,
      victimPrimaries: victimMember.primaries,
      record,
      verification,
      longestAckGapMs: longestAckGap(record),
    };
  } finally {
    if (record === null) await load.stop();
    await probeClient.close();
  }
}

/** One line for a test's diagnostics or the script's output. */
export function describeTrial(r: TrialResult): string {
  const v = r.verification;
  return [
    `killed ${r.victim}, primary of ${r.victimPrimaries} partitions`,
    `every partition accepted writes again after ${r.failoverMs} ms (slowest: partition ${r.slowestPartition})`,
    `load: ${r.record.writes.acknowledged} of ${r.record.writes.attempted} ${r.record.durability} writes acknowledged, longest stall ${r.longestAckGapMs} ms, errors: ${describeErrors(r.record)}`,
    `verified ${v.checked} acknowledged writes: ${v.lost.length} lost, ${v.unreadable.length} unreadable, ${v.inDoubtApplied} in-doubt writes took effect`,
  ].join('; ');
}
