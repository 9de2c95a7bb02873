/**
 * The seeded randomized simulation (TigerBeetle's VOPR, in miniature). One seed derives every
 * setting and every fault; the run prints them in one line with the command that replays it.
 *
 * Safety phase: 3 or 5 nodes run for a few thousand steps while the network loses,
 * duplicates, delays and reorders messages, partitions come and go, nodes crash (sometimes
 * half-way through a Ready) and restart from what they persisted, clients propose and read,
 * and the leader adds, promotes and removes members. The checker verifies Raft's safety
 * properties after every step.
 *
 * Liveness phase: the faults stop, partitions heal, every crashed node restarts; within a
 * bound a leader must be elected and a new proposal must be applied by every member.
 */
import { SeededRandom } from '../../../src/core/random.js';
import type { Message, NodeId } from '../../../src/raft/index.js';
import { Cluster, type Data } from './cluster.js';

export interface SimulationSettings {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly drop: number;
  readonly duplicate: number;
  readonly maxDelay: number;
  readonly crashRate: number;
  readonly crashMidReady: number;
  readonly partitionRate: number;
  readonly proposeRate: number;
  readonly readRate: number;
  readonly changeRate: number;
  readonly compactEvery: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly heartbeatIntervalTicks: number;
  readonly maxEntriesPerAppend: number;
  readonly maxInflightAppends: number;
}

export interface SimulationOptions {
  /** Overrides the derived number of steps of the safety phase. */
  readonly steps?: number;
  /** A network that rewrites messages: used to plant bugs that the checker must catch. */
  readonly rewrite?: (m: Message<Data>) => Message<Data>;
}

export interface SimulationReport {
  readonly settings: SimulationSettings;
  readonly committed: number;
  readonly elections: number;
  readonly membershipChanges: number;
  readonly crashes: number;
  readonly livenessSteps: number;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

export function deriveSettings(seed: number, steps?: number): SimulationSettings {
  const r = new SeededRandom(seed ^ 0x5eed);
  return {
    seed,
    nodes: r.int(2) === 0 ? 3 : 5,
    steps: steps ?? 1500 + r.int(1500),
    drop: round(r.next() * 0.2),
    duplicate: round(r.next() * 0.1),
    maxDelay: 1 + r.int(4),
    crashRate: round(0.002 + r.next() * 0.01),
    crashMidReady: round(r.next() * 0.002),
    partitionRate: round(r.next() * 0.01),
    proposeRate: round(0.05 + r.next() * 0.3),
    readRate: round(r.next() * 0.05),
    changeRate: round(r.next() * 0.01),
    compactEvery: 10 + r.int(50),
    // Safety must not depend on pre-vote or check-quorum, so runs without them too.
    preVote: r.next() < 0.75,
    checkQuorum: r.next() < 0.75,
    heartbeatIntervalTicks: 1 + r.int(2),
    maxEntriesPerAppend: 1 + r.int(8),
    maxInflightAppends: 1 + r.int(8),
  };
}

export function describe(s: SimulationSettings): string {
  const fields = Object.entries(s)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  return `${fields}\nreplay: RAFT_SIM_SEED=${s.seed} node scripts/run-tests.mjs safety-under-faults`;
}

export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
  constructor(
    readonly settings: SimulationSettings,
    readonly step: number,
    override readonly cause: unknown,
  ) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`seed ${settings.seed} failed at step ${step}: ${what}\n${describe(settings)}`);
  }
}

/** Liveness bound, in steps: a few election timeouts plus replication under small delays. */
const livenessStepsMax = 600;

export function runSimulation(seed: number, options: SimulationOptions = {}): SimulationReport {
  const settings = deriveSettings(seed, options.steps);
  let step = 0;
  try {
    return simulate(settings, options, (n) => (step = n));
  } catch (err) {
    throw new SimulationFailure(settings, step, err);
  }
}

function simulate(
  s: SimulationSettings,
  options: SimulationOptions,
  at: (step: number) => void,
): SimulationReport {
  const r = new SeededRandom(s.seed);
  const founders = Array.from({ length: s.nodes }, (_, i) => `n${i + 1}`);
  const cluster = new Cluster({
    voters: founders,
    seed: s.seed,
    settings: {
      preVote: s.preVote,
      checkQuorum: s.checkQuorum,
      heartbeatIntervalTicks: s.heartbeatIntervalTicks,
      maxEntriesPerAppend: s.maxEntriesPerAppend,
      maxInflightAppends: s.maxInflightAppends,
    },
  });
  cluster.faults = { drop: s.drop, duplicate: s.duplicate, maxDelay: s.maxDelay };
  cluster.crashMidReady = s.crashMidReady;
  cluster.rewrite = options.rewrite ?? null;

  let nextJoiner = s.nodes + 1;
  const joinersMax = 3;
  let proposals = 0;
  let reads = 0;
  let crashes = 0;
  let changes = 0;
  let elections = 0;
  let lastLeaderTerm = 0;
  let partitionedUntil = -1;

  const pick = <X>(xs: readonly X[]): X | undefined => xs[r.int(xs.length)];
  const running = (): NodeId[] =>
    [...cluster.nodes.values()].filter((n) => n.alive).map((n) => n.id);
  const down = (): NodeId[] => [...cluster.nodes.values()].filter((n) => !n.alive).map((n) => n.id);

  for (let step = 1; step <= s.steps; step++) {
    at(step);
    // Partitions: split the nodes in two at random, heal some time later.
    if (partitionedUntil === step) cluster.heal();
    if (partitionedUntil < step && r.next() < s.partitionRate) {
      const ids = [...cluster.nodes.keys()];
      const side = ids.filter(() => r.next() < 0.5);
      cluster.partition(
        side,
        ids.filter((id) => !side.includes(id)),
      );
      partitionedUntil = step + 20 + r.int(100);
    }
    // Crashes and restarts.
    if (r.next() < s.crashRate) {
      const victim = pick(running());
      if (victim !== undefined) {
        cluster.crash(victim);
        crashes++;
      }
    }
    const sleeping = down();
    if (sleeping.length > 0 && r.next() < 0.02) {
      const id = pick(sleeping);
      if (id !== undefined) cluster.restart(id);
    }
    // Clients.
    if (r.next() < s.proposeRate) {
      // Most clients find the leader; some ask whoever they reach and are turned away.
      const id = r.next() < 0.7 ? (cluster.leader() ?? pick(running())) : pick(running());
      if (id !== undefined) cluster.propose(id, `s${s.seed}-p${proposals++}`);
    }
    if (r.next() < s.readRate) {
      const id = pick(running());
      if (id !== undefined) cluster.readIndex(id, `s${s.seed}-r${reads++}`);
    }
    // Membership changes, proposed to whoever believes it leads.
    if (r.next() < s.changeRate) {
      const leader = cluster.leader();
      if (leader !== null) {
        const m = cluster.raft(leader).status().membership;
        const choice = r.int(3);
        if (choice === 0 && nextJoiner - s.nodes <= joinersMax) {
          const id = `n${nextJoiner}`;
          const result = cluster.raft(leader).proposeConfigChange({ type: 'addLearner', node: id });
          if (result.ok) {
            nextJoiner++;
            cluster.addNode(id);
            changes++;
          }
        } else if (choice === 1) {
          const learner = pick(m.learners);
          if (learner !== undefined) {
            const res = cluster.raft(leader).proposeConfigChange({
              type: 'promoteLearner',
              node: learner,
            });
            if (res.ok) changes++;
          }
        } else if (m.voters.length + m.learners.length > 3) {
          const victim = pick([...m.voters, ...m.learners]);
          if (victim !== undefined) {
            const res = cluster.raft(leader).proposeConfigChange({
              type: 'removeNode',
              node: victim,
            });
            if (res.ok) changes++;
          }
        }
        cluster.handleReady(cluster.node(leader));
      }
    }
    // The applications compact now and then.
    for (const node of cluster.nodes.values()) {
      if (node.raft === null) continue;
      const snapIndex = node.raft.status().firstIndex - 1;
      if (node.appliedIndex - snapIndex >= s.compactEvery) cluster.compact(node.id);
    }

    cluster.simStep(() => {
      // A crash after stepping but before the Ready is handled loses unpersisted changes.
      if (r.next() < s.crashRate / 2) {
        const victim = pick(running());
        if (victim !== undefined) {
          cluster.crash(victim);
          crashes++;
        }
      }
    });

    const leader = cluster.leader();
    if (leader !== null) {
      const t = cluster.raft(leader).status().term;
      if (t !== lastLeaderTerm) {
        elections++;
        lastLeaderTerm = t;
      }
    }
  }

  // Liveness: heal everything and demand progress within a bound.
  cluster.heal();
  cluster.faults = { drop: 0, duplicate: 0, maxDelay: 1 };
  cluster.crashMidReady = 0;
  for (const id of down()) cluster.restart(id);
  let live = 0;
  let pending: { data: string; at: number } | null = null;
  for (let step = 1; step <= livenessStepsMax; step++) {
    at(s.steps + step);
    cluster.simStep();
    const leader = cluster.leader();
    if (leader === null) continue;
    if (pending === null || step - pending.at > 100) {
      const data = `s${s.seed}-live${live++}`;
      if (cluster.propose(leader, data).ok) pending = { data, at: step };
      continue;
    }
    const m = cluster.raft(leader).status().membership;
    const want = pending.data;
    const everywhere = [...m.voters, ...m.learners].every((id) =>
      cluster.node(id).appliedData().includes(want),
    );
    if (everywhere) {
      return {
        settings: s,
        committed: cluster.checker.committedCount,
        elections,
        membershipChanges: changes,
        crashes,
        livenessSteps: step,
      };
    }
  }
  const status = [...cluster.nodes.values()]
    .map((n) => {
      const st = n.raft?.status();
      return st === undefined
        ? `${n.id}: down`
        : `${n.id}: ${st.role} term ${st.term} commit ${st.commit}/${st.lastIndex} ` +
            `voters [${st.membership.voters.join(',')}] learners [${st.membership.learners.join(',')}]`;
    })
    .join('; ');
  throw new Error(
    `liveness: no proposal applied everywhere within ${livenessStepsMax} steps (${status})`,
  );
}
