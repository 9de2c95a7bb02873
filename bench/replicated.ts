/**
 * The replicated section of `npm run bench`: a three-node Statehouse cluster with two copies
 * of every partition and sync writes, beside a Redis primary with one replica where every SET
 * is followed by `WAIT 1`. Both answer a write only once a second process holds it, so this is
 * the comparison a session store that must survive the loss of one server is chosen by.
 *
 * 1. Start three node processes, the 2nd and 3rd with the 1st as their seed, and wait until
 *    the cluster has settled: three active members, every partition with a primary and 2
 *    in-sync copies, none catching up, primaries and copies spread evenly (until then the
 *    control plane is still moving partitions, and a phase would measure the move).
 * 2. Start redis-server, then a replica of it (`--replicaof`), and wait until the primary sees
 *    the replica online, the replica's link is up, and a write has been acknowledged (before
 *    that, WAIT would time out).
 * 3. Load the same N keys into each with replicated writes, and check that every key has its
 *    two copies. Then, phase by phase (100% set, 90% get / 10% set), every system in turn, as
 *    the single-node section does.
 *
 * Redis's side: each caller sends SET, awaits it, then sends `WAIT 1 1000` on the same
 * connection and awaits that. WAIT blocks the connection until the replica acknowledged every
 * write the connection made so far, or 1000 ms passed; it answers how many replicas did, and
 * an answer below 1 counts as an error (the write was not replicated in time). The timeout
 * keeps a lost replica from hanging the bench: `WAIT 1 0` would wait forever. Both Redis setups
 * of the single-node section are measured:
 *  - one auto-pipelined connection: the WAITs of all callers queue behind the first, which
 *    covers every SET sent before it, so one acknowledgement from the replica answers them all;
 *  - a pool of connections: each WAIT waits for its own connection's writes; Redis asks the
 *    replica for one acknowledgement per event-loop turn, for every blocked connection at once.
 * Sending SET and WAIT together without awaiting the SET saves a round trip on a pooled
 * connection, but on the auto-pipelined one it makes every caller's WAIT block the connection
 * in turn (SET, WAIT, SET, WAIT... in one batch, each WAIT a round trip to the replica). Tried
 * with 64 callers: the pool was no faster paired (within the noise), the auto-pipelined
 * connection markedly slower (10-12k against 16-17k sets/s), so the bench uses the
 * sequential form for both.
 */
import type { Redis } from 'ioredis';
import type { Client, ClusterStatusView } from '../src/client/index.js';
import { loadClient } from './built.js';
import { spawnLoadProcess, type LoadProcess } from './load-process.js';
import {
  connectRedis,
  measurePhase,
  progress,
  redisCpuMicros,
  redisInfo,
  redisPoolConnectionsMax,
  redisSet,
  sleep,
  type Closers,
  type Doc,
  type OpenSystem,
  type Settings,
} from './harness.js';
import { spawnNodeProcess, type NodeProcess } from './node-process.js';
import { startRedis } from './redis-server.js';
import {
  replicatedPhaseNames,
  targetChecks,
  targetP99RatioMax,
  targetThroughputRatioMin,
  type MeasuredPhase,
  type ReplicatedPhaseName,
  type ReplicatedReport,
  type ReplicatedSystemResult,
  type SystemId,
} from './report.js';
import { runEach } from './workload.js';

/** The issue's shape: three nodes, two copies of each partition (a primary and one backup). */
export const clusterSize = 3;
export const replicationFactor = 2;
/** Redis replicas: one, the counterpart of Statehouse's one backup per partition. */
const redisReplicas = 1;
/**
 * How long one WAIT may block. A loopback replica acknowledges within a millisecond or two
 * even on a loaded machine; a second means it is gone or stalled, and the call counts as an
 * error instead of hanging the bench.
 */
const redisWaitTimeoutMs = 1_000;
/**
 * Limits on the waits before measuring. A three-node cluster settles within a few seconds
 * (joins, then the placement moves a third of the partitions to each new node); a replica of
 * an empty primary links up within a second. Both are generous for a loaded machine.
 */
const clusterSettleTimeoutMs = 60_000;
const redisLinkTimeoutMs = 30_000;
const pollMs = 100;

/** Why the cluster has not settled yet, or null when it has. */
function unsettled(status: ClusterStatusView): string | null {
  const active = status.members.filter((m) => m.state === 'active');
  if (active.length !== clusterSize) {
    return `${active.length} of ${clusterSize} members active`;
  }
  if (status.settings?.replicationFactor !== replicationFactor) {
    return `replication factor ${status.settings?.replicationFactor}, not ${replicationFactor}`;
  }
  const { total, withoutPrimary, underReplicated } = status.partitions;
  if (withoutPrimary > 0) return `${withoutPrimary} of ${total} partitions without a primary`;
  if (underReplicated > 0) {
    return `${underReplicated} of ${total} partitions with fewer than ${replicationFactor} in-sync copies`;
  }
  const catchingUp = active.reduce((n, m) => n + m.catchingUp, 0);
  if (catchingUp > 0) return `${catchingUp} copies catching up`;
  const spread = (values: number[]): number => Math.max(...values) - Math.min(...values);
  if (spread(active.map((m) => m.primaries)) > 1 || spread(active.map((m) => m.copies)) > 1) {
    return 'placement still moving partitions between nodes';
  }
  return null;
}

/**
 * Polls the cluster's status (linearizable: confirmed by the control plane's quorum, so not a
 * stale view of one node) until it has settled.
 */
async function waitUntilSettled(client: Client): Promise<ClusterStatusView> {
  const deadline = Date.now() + clusterSettleTimeoutMs;
  let why = 'no status yet';
  for (;;) {
    try {
      const status = await client.clusterStatus({ linearizable: true });
      const reason = unsettled(status);
      if (reason === null) return status;
      why = reason;
    } catch (error) {
      why = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(`the cluster did not settle within ${clusterSettleTimeoutMs} ms: ${why}`);
    }
    await sleep(pollMs);
  }
}

/** A three-node cluster with RF=2, settled, and a client of it; stopped by `closers`. */
export interface SettledCluster {
  readonly nodes: readonly NodeProcess[];
  readonly client: Client;
  readonly partitions: number;
  /** How long it took the cluster to settle once the last node had started. */
  readonly settleMs: number;
}

/**
 * Starts the cluster (step 1 above) and waits until it settled. Also used by the HTTP section,
 * which measures the shop on the same cluster.
 */
export async function startSettledCluster(
  settings: Pick<Settings, 'nodeFlags' | 'durability'>,
  closers: Closers,
): Promise<SettledCluster> {
  const nodes: NodeProcess[] = [];
  // Stopped together: one by one, each stop would first make the others fail its partitions over.
  closers.push(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  });
  const spawn = async (id: string, seeds?: string[]): Promise<NodeProcess> => {
    const node = await spawnNodeProcess(settings.nodeFlags, {
      id,
      replicationFactor,
      ...(seeds !== undefined && { seeds }),
    });
    nodes.push(node);
    return node;
  };
  const founder = await spawn('bench-1');
  // One after the other: a join is a control-plane membership change, one at a time anyway.
  for (let i = 2; i <= clusterSize; i++) await spawn(`bench-${i}`, [founder.address]);
  const { connect } = await loadClient();
  const client = await connect({
    seeds: nodes.map((n) => n.address),
    name: 'bench-replicated',
    durability: settings.durability,
  });
  closers.push(() => client.close());
  const waitStart = Date.now();
  const status = await waitUntilSettled(client);
  return { nodes, client, partitions: status.partitions.total, settleMs: Date.now() - waitStart };
}

export async function openStatehouseCluster(
  settings: Settings,
  keys: readonly string[],
  valueOf: (i: number) => Doc,
  closers: Closers,
): Promise<{ system: OpenSystem; partitions: number }> {
  const { nodes, client, partitions, settleMs } = await startSettledCluster(settings, closers);
  progress(
    `statehouse cluster: ${nodes.map((n) => `${n.address} (pid ${n.pid})`).join(', ')}; ` +
      `settled in ${settleMs} ms, ${partitions} partitions with ` +
      `${replicationFactor} in-sync copies each; loading ${keys.length} keys`,
  );

  const preload = await runEach(keys.length, settings.concurrency, (i) =>
    client.set(keys[i]!, valueOf(i)),
  );
  const samples = await Promise.all(nodes.map((n) => n.sample(false)));
  const sum = (pick: (s: (typeof samples)[number]) => number): number =>
    samples.reduce((n, s) => n + pick(s), 0);
  // Every key once as a primary copy and once more as a backup copy. With sync writes both are
  // in place when the set is answered; with async ones the backups may still be applying.
  if (sum((s) => s.primaryEntries) !== keys.length) {
    throw new Error(`the cluster's primaries hold ${sum((s) => s.primaryEntries)} entries`);
  }
  if (settings.durability === 'sync' && sum((s) => s.entries) !== replicationFactor * keys.length) {
    throw new Error(
      `the cluster holds ${sum((s) => s.entries)} copies of ${keys.length} keys, ` +
        `not ${replicationFactor} of each`,
    );
  }

  const load = await spawnLoadProcess({
    system: {
      kind: 'statehouse',
      seeds: nodes.map((n) => n.address),
      durability: settings.durability,
    },
    keys: keys.length,
    valueBytes: settings.valueBytes,
    concurrency: settings.concurrency,
  });
  closers.push(() => load.stop());
  const system: OpenSystem = {
    id: 'statehouse',
    label: `Statehouse, ${clusterSize} nodes, RF=${replicationFactor}`,
    load,
    preload,
    serverCpuMicros: async () =>
      (await Promise.all(nodes.map((n) => n.sample(false)))).reduce((n, s) => n + s.cpuMicros, 0),
  };
  return { system, partitions };
}

/**
 * Polls until the primary sees its replica online and the replica's link to it is up, then
 * until a write is acknowledged. The second wait is needed: after a diskless full sync, the
 * primary streams writes to the replica only once the replica's first REPLCONF ACK arrived,
 * and the replica sends that from its once-a-second cron, so the first WAIT after the link is
 * up takes most of a second (and timed out on a loaded machine) though every later one is fast.
 */
async function waitUntilLinked(primary: Redis, replica: Redis): Promise<void> {
  const deadline = Date.now() + redisLinkTimeoutMs;
  const giveUp = (why: string): never => {
    throw new Error(`the redis replica did not link up within ${redisLinkTimeoutMs} ms (${why})`);
  };
  for (;;) {
    const [ours, theirs] = await Promise.all([
      redisInfo(primary, 'replication'),
      redisInfo(replica, 'replication'),
    ]);
    const connected = ours.get('connected_slaves');
    const online = ours.get('slave0')?.includes('state=online') === true;
    const link = theirs.get('master_link_status');
    if (connected === String(redisReplicas) && online && link === 'up') break;
    if (Date.now() > deadline) {
      giveUp(`connected_slaves:${connected}, slave0 online: ${online}, master_link_status:${link}`);
    }
    await sleep(pollMs);
  }
  const probe = 'bench:replica-check';
  await primary.set(probe, '1');
  while ((await primary.wait(redisReplicas, redisWaitTimeoutMs)) < redisReplicas) {
    if (Date.now() > deadline) giveUp('no write acknowledged by the replica');
  }
  // Gone again, replicated too, so that each side holds exactly the N keys of the preload.
  await primary.del(probe);
  if ((await primary.wait(redisReplicas, redisWaitTimeoutMs)) < redisReplicas) {
    giveUp("the replica did not acknowledge the probe key's deletion");
  }
}

async function openRedisWithReplica(
  settings: Settings,
  keys: readonly string[],
  valueOf: (i: number) => Doc,
  closers: Closers,
): Promise<{
  systems: OpenSystem[];
  poolConnections: number;
  /** Server CPU of the primary and its replica so far, in µs (both systems share them). */
  serverCpuMicros: () => Promise<number>;
}> {
  const primary = await startRedis(settings.redisBinary);
  closers.push(() => primary.stop());
  const replica = await startRedis(settings.redisBinary, { replicaOf: primary.port });
  closers.push(() => replica.stop());
  const primaryAdmin = await connectRedis(primary.port, { enableAutoPipelining: false }, closers);
  const replicaAdmin = await connectRedis(replica.port, { enableAutoPipelining: false }, closers);
  await waitUntilLinked(primaryAdmin, replicaAdmin);
  progress(
    `redis: primary port ${primary.port} (pid ${primary.pid}), replica port ${replica.port} ` +
      `(pid ${replica.pid}), linked; loading ${keys.length} keys`,
  );

  // The preload is the measured phases' write: SET, then WAIT for the replica.
  const wait = { replicas: redisReplicas, timeoutMs: redisWaitTimeoutMs };
  const auto = await connectRedis(primary.port, { enableAutoPipelining: true }, closers);
  const preload = await runEach(keys.length, settings.concurrency, (i) =>
    redisSet(auto, keys[i]!, valueOf(i), wait),
  );
  const [onPrimary, onReplica] = await Promise.all([primaryAdmin.dbsize(), replicaAdmin.dbsize()]);
  if (onPrimary !== keys.length || onReplica !== keys.length) {
    throw new Error(
      `redis holds ${onPrimary} keys on the primary and ${onReplica} on the replica ` +
        `after loading ${keys.length}`,
    );
  }

  const poolSize = Math.min(settings.concurrency, redisPoolConnectionsMax);
  const loadOf = async (poolConnections: number): Promise<LoadProcess> => {
    const load = await spawnLoadProcess({
      system: { kind: 'redis', port: primary.port, poolConnections, wait },
      keys: keys.length,
      valueBytes: settings.valueBytes,
      concurrency: settings.concurrency,
    });
    closers.push(() => load.stop());
    return load;
  };
  // Both processes do the replication's work: the primary sends, the replica applies and acks.
  const serverCpuMicros = async (): Promise<number> =>
    (await redisCpuMicros(primaryAdmin)) + (await redisCpuMicros(replicaAdmin));
  const label = `Redis + replica, WAIT ${redisReplicas}`;
  const systems: OpenSystem[] = [
    {
      id: 'redis-auto',
      label: `${label}, auto-pipelined`,
      load: await loadOf(0),
      preload,
      serverCpuMicros,
    },
    {
      id: 'redis-pool',
      label: `${label}, pool of ${poolSize}`,
      load: await loadOf(poolSize),
      preload,
      serverCpuMicros,
    },
  ];
  return { systems, poolConnections: poolSize, serverCpuMicros };
}

/**
 * Both systems' server CPU over `seconds` in which nobody asks them anything. Each sampler
 * gives a system's server CPU so far, in µs (OpenSystem.serverCpuMicros).
 */
async function measureIdle(
  statehouseCpuMicros: () => Promise<number>,
  redisCpuMicros: () => Promise<number>,
  seconds: number,
): Promise<ReplicatedReport['idle']> {
  const before = await Promise.all([statehouseCpuMicros(), redisCpuMicros()]);
  const start = performance.now();
  await sleep(seconds * 1000);
  const after = await Promise.all([statehouseCpuMicros(), redisCpuMicros()]);
  const elapsedSeconds = (performance.now() - start) / 1000;
  const msPerSec = (i: 0 | 1): number => (after[i] - before[i]) / 1000 / elapsedSeconds;
  return {
    seconds: elapsedSeconds,
    statehouseCpuMsPerSec: msPerSec(0),
    redisCpuMsPerSec: msPerSec(1),
  };
}

/**
 * Runs the replicated section from start to end: its processes are stopped before it returns
 * or throws, so the single-node section's and this one's never compete for the machine.
 */
export async function runReplicatedSection(
  settings: Settings,
  keys: readonly string[],
  valueOf: (i: number) => Doc,
  loadAverage1m: () => number,
): Promise<ReplicatedReport> {
  const closers: Closers = [];
  try {
    const loadAtStart = loadAverage1m();
    const statehouse = await openStatehouseCluster(settings, keys, valueOf, closers);
    const redis = await openRedisWithReplica(settings, keys, valueOf, closers);
    const open = [statehouse.system, ...redis.systems];
    // Both Redis setups share the primary and its replica: either one's sampler reads them.
    const idle = await measureIdle(
      statehouse.system.serverCpuMicros,
      redis.serverCpuMicros,
      settings.seconds,
    );
    const phases = new Map<SystemId, Partial<Record<ReplicatedPhaseName, MeasuredPhase>>>();
    for (const phase of replicatedPhaseNames) {
      for (const system of open) {
        const done = phases.get(system.id) ?? {};
        done[phase] = await measurePhase(system, phase, settings);
        phases.set(system.id, done);
      }
    }
    const systems: ReplicatedSystemResult[] = open.map((s) => ({
      id: s.id,
      label: s.label,
      serverProcesses: s.id === 'statehouse' ? clusterSize : 1 + redisReplicas,
      preload: s.preload,
      phases: phases.get(s.id) as Record<ReplicatedPhaseName, MeasuredPhase>,
    }));
    const checks = targetChecks(systems);
    return {
      loadAverage1m: loadAtStart,
      settings: {
        nodes: clusterSize,
        replicationFactor,
        partitions: statehouse.partitions,
        statehouseDurability: settings.durability,
        redisReplicas,
        redisWaitTimeoutMs,
        redisPoolConnections: redis.poolConnections,
      },
      systems,
      idle,
      targets: {
        throughputRatioMin: targetThroughputRatioMin,
        p99RatioMax: targetP99RatioMax,
        checks,
        metEverywhere: checks.every((c) => c.throughputMet && c.p99Met),
      },
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}
