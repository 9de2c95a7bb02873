/**
 * The bench's figures as data (latest.json) and as a markdown report (latest.md) ready to
 * paste into the README. Every number in either comes from the run that wrote it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PhaseResult } from './workload.js';

export const phaseNames = ['get', 'set', 'mix'] as const;
export type PhaseName = (typeof phaseNames)[number];
export const phaseLabels: Record<PhaseName, string> = {
  get: '100% get',
  set: '100% set',
  mix: '90% get / 10% set',
};

/** The phases of the replicated section: the ones that write (a replicated read is a read). */
export const replicatedPhaseNames = ['set', 'mix'] as const satisfies readonly PhaseName[];
export type ReplicatedPhaseName = (typeof replicatedPhaseNames)[number];

/** The issue's targets for the replicated section: throughput at least 2x Redis's, p99 no worse. */
export const targetThroughputRatioMin = 2;
export const targetP99RatioMax = 1;

/** In each section: Statehouse, and Redis through one auto-pipelined connection or a pool. */
export type SystemId = 'statehouse' | 'redis-auto' | 'redis-pool';

export interface MeasuredPhase extends PhaseResult {
  /** CPU time of the server process per measured call, in microseconds. */
  readonly serverCpuUsPerOp: number;
}

export interface SystemResult {
  readonly id: SystemId;
  readonly label: string;
  /** Loading the N keys before the phases: C callers, one set per key. */
  readonly preload: { readonly seconds: number; readonly opsPerSec: number };
  readonly phases: Record<PhaseName, MeasuredPhase>;
}

export interface MemoryResult {
  readonly entries: number;
  /** Key plus value bytes as each system holds them: JSON text for Redis, MessagePack for Statehouse. */
  readonly payloadBytesPerEntry: { readonly statehouse: number; readonly redis: number };
  readonly statehouse: {
    readonly rssBytesPerEntry: number;
    readonly heapUsedBytesPerEntry: number;
    readonly externalBytesPerEntry: number;
    /** heapUsed + external: the node's own memory, comparable to Redis's used_memory. */
    readonly heapBytesPerEntry: number;
    readonly storeBytesPerEntry: number;
    /** RSS after the timed phases (which overwrite values) minus before loading. */
    readonly rssAfterPhasesBytesPerEntry: number;
  };
  readonly redis: {
    readonly usedMemoryBytesPerEntry: number;
    readonly rssBytesPerEntry: number;
    readonly rssAfterPhasesBytesPerEntry: number;
  };
  readonly ratios: { readonly heapVsUsedMemory: number; readonly rssVsRss: number };
}

export interface Ratio {
  readonly phase: PhaseName;
  readonly versus: SystemId;
  /** Statehouse ops/s divided by Redis ops/s: above 1 is Statehouse faster. */
  readonly throughput: number;
  /** Statehouse p99 divided by Redis p99: above 1 is Statehouse slower. */
  readonly p99: number;
}

export interface ReplicatedSystemResult {
  readonly id: SystemId;
  readonly label: string;
  /** Server processes behind it: the cluster's nodes, or the Redis primary and its replicas. */
  readonly serverProcesses: number;
  /** Loading the N keys with replicated writes (SET + WAIT for Redis). */
  readonly preload: { readonly seconds: number; readonly opsPerSec: number };
  /** serverCpuUsPerOp counts every server process: all nodes, or primary plus replica. */
  readonly phases: Record<ReplicatedPhaseName, MeasuredPhase>;
}

export interface TargetCheck extends Ratio {
  /** throughput >= targetThroughputRatioMin. */
  readonly throughputMet: boolean;
  /** p99 <= targetP99RatioMax. */
  readonly p99Met: boolean;
}

/** Statehouse nodes with RF=2 and sync writes against Redis with a replica and WAIT. */
export interface ReplicatedReport {
  /** The 1-minute load average when this section started. */
  readonly loadAverage1m: number;
  readonly settings: {
    readonly nodes: number;
    readonly replicationFactor: number;
    readonly partitions: number;
    readonly statehouseDurability: string;
    readonly redisReplicas: number;
    /** The timeout of each WAIT; an answer below redisReplicas counts as an error. */
    readonly redisWaitTimeoutMs: number;
    readonly redisPoolConnections: number;
  };
  readonly systems: readonly ReplicatedSystemResult[];
  /**
   * Server CPU while nothing is asked of either system (after loading, before the phases),
   * in ms of CPU per second of wall time, all server processes together: what a cluster
   * costs just by running (timers, heartbeats, lease pings, the runtime's own threads),
   * against Redis's cron.
   */
  readonly idle: {
    readonly seconds: number;
    readonly statehouseCpuMsPerSec: number;
    readonly redisCpuMsPerSec: number;
  };
  readonly targets: {
    readonly throughputRatioMin: number;
    readonly p99RatioMax: number;
    /** One per phase and Redis setup. */
    readonly checks: readonly TargetCheck[];
    /** Both targets met in every phase against every Redis setup. */
    readonly metEverywhere: boolean;
  };
}

/** The HTTP section's systems: the shop on connect-redis, on one Statehouse node, on three. */
export type HttpSystemId = 'redis' | 'statehouse-1' | 'statehouse-3';

/** The issue's target for the HTTP section: requests/s at least 1.0x connect-redis's, p99 no worse. */
export const httpTargetRequestsRatioMin = 1;
export const httpTargetP99RatioMax = 1;

export interface HttpSystemResult {
  readonly id: HttpSystemId;
  readonly label: string;
  /** Server processes behind the shop: redis-server, or the Statehouse nodes. */
  readonly serverProcesses: number;
  /** 2xx responses in the measured run. */
  readonly requests: number;
  readonly seconds: number;
  /** 2xx responses per second of the measured run. */
  readonly requestsPerSec: number;
  /** The same for each round, in the order they ran. */
  readonly roundRequestsPerSec: readonly number[];
  /** Of the 2xx responses, measured by the load generator from request written to response read. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** autocannon's own percentiles (whole milliseconds), the highest of the rounds, for reference. */
  readonly autocannonLatencyMs: { readonly p50: number; readonly p99: number };
  /** Socket errors, timeouts, and responses that were not 2xx. */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  /** CPU time per 2xx response, in microseconds: the shop process, the server processes, autocannon's. */
  readonly shopCpuUsPerRequest: number;
  readonly serverCpuUsPerRequest: number;
  readonly loadGeneratorCpuUsPerRequest: number;
  /** The 1-minute load average when this system's rounds started, averaged over the rounds. */
  readonly loadAverage1m: number;
}

export interface HttpTargetCheck {
  readonly system: HttpSystemId;
  readonly versus: HttpSystemId;
  /** Statehouse's requests/s divided by connect-redis's: above 1 is Statehouse faster. */
  readonly requestsPerSec: number;
  /**
   * The same ratio for each round on its own, against connect-redis's round of the same
   * number (the two ran one after the other, on a machine in about the same state): how far
   * the ratio moves within one run.
   */
  readonly requestsPerSecRounds: { readonly lowest: number; readonly highest: number };
  /** Statehouse's p99 divided by connect-redis's: above 1 is Statehouse slower. */
  readonly p99: number;
  readonly requestsMet: boolean;
  readonly p99Met: boolean;
}

/** The shop's cart API under autocannon, on connect-redis + Redis and on Statehouse's store. */
export interface HttpReport {
  /** The 1-minute load average when this section started. */
  readonly loadAverage1m: number;
  readonly settings: {
    /** autocannon connections, each with a session of its own, one request at a time. */
    readonly connections: number;
    /** Measured seconds per system, in `rounds` rounds; each round runs every system in turn. */
    readonly seconds: number;
    readonly rounds: number;
    readonly warmupSeconds: number;
    /** The requests each connection sends in turn, again and again. */
    readonly cycle: readonly string[];
    readonly nodes: number;
    readonly replicationFactor: number;
    readonly statehouseDurability: string;
  };
  readonly systems: readonly HttpSystemResult[];
  readonly targets: {
    readonly requestsRatioMin: number;
    readonly p99RatioMax: number;
    /** Each Statehouse setup against connect-redis. */
    readonly checks: readonly HttpTargetCheck[];
  };
}

export function httpTargetChecks(systems: readonly HttpSystemResult[]): HttpTargetCheck[] {
  const redis = systems.find((s) => s.id === 'redis');
  if (redis === undefined) return [];
  return systems
    .filter((s) => s.id !== 'redis')
    .map((s) => {
      const requestsPerSec = s.requestsPerSec / redis.requestsPerSec;
      const p99 = s.p99Ms / redis.p99Ms;
      const rounds = pairedRatios(s.roundRequestsPerSec, redis.roundRequestsPerSec);
      return {
        system: s.id,
        versus: redis.id,
        requestsPerSec,
        requestsPerSecRounds: { lowest: Math.min(...rounds), highest: Math.max(...rounds) },
        p99,
        requestsMet: requestsPerSec >= httpTargetRequestsRatioMin,
        p99Met: p99 <= httpTargetP99RatioMax,
      };
    });
}

/** Each of `ours` divided by the one of `theirs` at the same index. */
function pairedRatios(ours: readonly number[], theirs: readonly number[]): number[] {
  if (ours.length !== theirs.length || ours.length === 0) {
    throw new Error(`paired rounds: ${ours.length} against ${theirs.length}`);
  }
  return ours.map((value, i) => value / theirs[i]!);
}

export interface BenchReport {
  readonly generatedAt: string;
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly node: string;
    readonly redis: string;
    readonly platform: string;
    /** The 1-minute load average when the run started: well above 0 means other work competed. */
    readonly loadAverage1m: number;
  };
  readonly settings: {
    readonly keys: number;
    readonly valueBytes: number;
    readonly concurrency: number;
    readonly redisPoolConnections: number;
    readonly seconds: number;
    readonly warmupSeconds: number;
    readonly statehouseDurability: string;
  };
  readonly systems: readonly SystemResult[];
  readonly ratios: readonly Ratio[];
  readonly memory: MemoryResult;
  readonly replicated: ReplicatedReport;
  readonly http: HttpReport;
}

/** Statehouse against each Redis setup, phase by phase. */
function ratiosOver<P extends PhaseName>(
  systems: readonly { readonly id: SystemId; readonly phases: Record<P, MeasuredPhase> }[],
  phases: readonly P[],
): Ratio[] {
  const sh = systems.find((s) => s.id === 'statehouse');
  if (sh === undefined) return [];
  const out: Ratio[] = [];
  for (const phase of phases) {
    for (const redis of systems) {
      if (redis.id === 'statehouse') continue;
      out.push({
        phase,
        versus: redis.id,
        throughput: sh.phases[phase].opsPerSec / redis.phases[phase].opsPerSec,
        p99: sh.phases[phase].p99Ms / redis.phases[phase].p99Ms,
      });
    }
  }
  return out;
}

export function ratios(systems: readonly SystemResult[]): Ratio[] {
  return ratiosOver(systems, phaseNames);
}

export function targetChecks(systems: readonly ReplicatedSystemResult[]): TargetCheck[] {
  return ratiosOver(systems, replicatedPhaseNames).map((r) => ({
    ...r,
    throughputMet: r.throughput >= targetThroughputRatioMin,
    p99Met: r.p99 <= targetP99RatioMax,
  }));
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => (n >= 10 ? n.toFixed(1) : n.toFixed(3));
const times = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : 'n/a');
const us = (n: number): string => n.toFixed(1);

/** A markdown table; the first `textColumns` columns align left, the numbers right. */
function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  textColumns = 1,
): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const rule = header.map((_, i) => (i < textColumns ? '---' : '---:'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

/**
 * The CPU the client and servers used together while the phase ran, in cores: whether a
 * system was bound by the machine's cores (close to all of them) or by its round trips.
 */
function coresBusy(p: MeasuredPhase): number {
  return (p.opsPerSec * (p.clientCpuUsPerOp + p.serverCpuUsPerOp)) / 1e6;
}

/** Each phase's figures for every system, phase by phase. */
function resultsTable<P extends PhaseName>(
  systems: readonly { readonly label: string; readonly phases: Record<P, MeasuredPhase> }[],
  phases: readonly P[],
): string {
  return table(
    [
      'phase',
      'system',
      'ops/s',
      'p50 ms',
      'p99 ms',
      'errors',
      'client CPU µs/op',
      'server CPU µs/op',
      'cores busy',
    ],
    phases.flatMap((phase) =>
      systems.map((sys) => {
        const p = sys.phases[phase];
        return [
          phaseLabels[phase],
          sys.label,
          int(p.opsPerSec),
          ms(p.p50Ms),
          ms(p.p99Ms),
          int(p.errors),
          us(p.clientCpuUsPerOp),
          us(p.serverCpuUsPerOp),
          coresBusy(p).toFixed(2),
        ];
      }),
    ),
    2,
  );
}

const poolText = (connections: number, callers: number): string =>
  connections < callers
    ? `${connections} connections (capped; ${callers} callers share them round-robin)`
    : `${connections} connections, one per caller`;

/** The replicated section: its settings, figures, and the issue's targets checked. */
export function renderReplicated(r: ReplicatedReport, callers: number): string[] {
  const s = r.settings;
  const labelOf = (id: SystemId): string => r.systems.find((x) => x.id === id)?.label ?? id;
  const yesNo = (met: boolean): string => (met ? 'yes' : '**no**');
  const { checks } = r.targets;
  const targetTable = table(
    [
      'phase',
      'versus',
      'throughput ratio',
      `at least ${times(r.targets.throughputRatioMin)}?`,
      'p99 ratio',
      `at most ${times(r.targets.p99RatioMax)}?`,
    ],
    checks.map((c) => [
      phaseLabels[c.phase],
      labelOf(c.versus),
      times(c.throughput),
      yesNo(c.throughputMet),
      times(c.p99),
      yesNo(c.p99Met),
    ]),
    2,
  );
  const count = (met: (c: TargetCheck) => boolean): string =>
    `${checks.filter(met).length} of ${checks.length}`;
  const async =
    s.statehouseDurability === 'sync'
      ? ''
      : ` (the targets are for sync writes; this run's Statehouse writes were \`${s.statehouseDurability}\`)`;
  return [
    `## Replicated: ${s.nodes} Statehouse nodes (RF=${s.replicationFactor}) vs Redis with ` +
      `${s.redisReplicas === 1 ? 'a replica' : `${s.redisReplicas} replicas`} (SET + WAIT ${s.redisReplicas})`,
    '',
    `Load average ${r.loadAverage1m.toFixed(2)} when this section started, after the ` +
      `single-node section's processes had stopped. Same keys, values, callers, warm-up and ` +
      `phase length as above.`,
    '',
    `Statehouse: ${s.nodes} nodes, each in a process of its own, one cluster of ` +
      `${int(s.partitions)} partitions with ${s.replicationFactor} copies each (a primary and ` +
      `${s.replicationFactor - 1 === 1 ? 'a backup' : `${s.replicationFactor - 1} backups`}, ` +
      `spread over the nodes), measured once every partition had a primary and ` +
      `${s.replicationFactor} in-sync copies; durability \`${s.statehouseDurability}\` ` +
      `(a sync write is answered once every in-sync copy applied it); one client, which sends ` +
      `each key to its partition's primary (one pipelined connection per node). ` +
      `Redis: a primary and ${s.redisReplicas} replica (\`--replicaof\`, ` +
      `\`--save '' --appendonly no\`), measured once the replica's link was up; each caller ` +
      `sends SET, then \`WAIT ${s.redisReplicas} ${s.redisWaitTimeoutMs}\` on the same ` +
      `connection, and a WAIT answered with fewer than ${s.redisReplicas} counts as an error; ` +
      `ioredis with one auto-pipelined connection, or a pool of ` +
      `${poolText(s.redisPoolConnections, callers)}. Server CPU counts every server process ` +
      `(the ${s.nodes} nodes; the Redis primary and its replica).`,
    '',
    resultsTable(r.systems, replicatedPhaseNames),
    '',
    `The issue's targets, Statehouse / Redis: throughput at least ` +
      `${times(r.targets.throughputRatioMin)}, p99 no worse (at most ` +
      `${times(r.targets.p99RatioMax)})${async}:`,
    '',
    targetTable,
    '',
    `Targets ${r.targets.metEverywhere ? 'met' : '**not met**'} in every phase against every ` +
      `Redis setup: throughput in ${count((c) => c.throughputMet)}, p99 in ` +
      `${count((c) => c.p99Met)}.`,
    '',
    table(
      ['system', 'preload seconds', 'preload replicated sets/s'],
      r.systems
        .filter((sys) => sys.id !== 'redis-pool')
        .map((sys) => [sys.label, sys.preload.seconds.toFixed(2), int(sys.preload.opsPerSec)]),
    ),
    '',
    `Idle, after the preload and before the phases (${r.idle.seconds.toFixed(1)} s, both ` +
      `systems idle at once): the ${s.nodes} nodes used ` +
      `${r.idle.statehouseCpuMsPerSec.toFixed(1)} ms of CPU per second together ` +
      `(${(r.idle.statehouseCpuMsPerSec / s.nodes).toFixed(1)} per node); Redis's primary ` +
      `and replica ${r.idle.redisCpuMsPerSec.toFixed(1)} ms.`,
    '',
  ];
}

/** The HTTP section: the shop's figures on each store, and the issue's target checked. */
export function renderHttp(r: HttpReport): string[] {
  const s = r.settings;
  const labelOf = (id: HttpSystemId): string => r.systems.find((x) => x.id === id)?.label ?? id;
  const yesNo = (met: boolean): string => (met ? 'yes' : '**no**');
  const results = table(
    [
      'system',
      'requests/s',
      'p50 ms',
      'p99 ms',
      'errors + timeouts',
      'non-2xx',
      'shop CPU µs/req',
      'server CPU µs/req',
      'autocannon CPU µs/req',
      'load avg',
    ],
    r.systems.map((sys) => [
      sys.label,
      int(sys.requestsPerSec),
      ms(sys.p50Ms),
      ms(sys.p99Ms),
      int(sys.errors + sys.timeouts),
      int(sys.non2xx),
      us(sys.shopCpuUsPerRequest),
      us(sys.serverCpuUsPerRequest),
      us(sys.loadGeneratorCpuUsPerRequest),
      sys.loadAverage1m.toFixed(2),
    ]),
  );
  const checks = table(
    [
      'Statehouse setup',
      'requests/s ratio',
      'in each round, lowest to highest',
      `at least ${times(r.targets.requestsRatioMin)}?`,
      'p99 ratio',
      `at most ${times(r.targets.p99RatioMax)}?`,
    ],
    r.targets.checks.map((c) => [
      labelOf(c.system),
      times(c.requestsPerSec),
      `${times(c.requestsPerSecRounds.lowest)} to ${times(c.requestsPerSecRounds.highest)}`,
      yesNo(c.requestsMet),
      times(c.p99),
      yesNo(c.p99Met),
    ]),
  );
  return [
    `## HTTP: the shop's cart API on express-session + connect-redis + Redis vs Statehouse's store`,
    '',
    `Load average ${r.loadAverage1m.toFixed(2)} when this section started. The same Express app ` +
      `(examples/shop), one process per store (NODE_ENV=production), all running at once; ` +
      `autocannon in the bench process with ${s.connections} connections, each with a session ` +
      `of its own (a login and one cart unit, made before the run) and one request at a time, ` +
      `sending in turn: ${s.cycle.map((c) => `\`${c}\``).join(', then ')}, so the session ` +
      `keeps its size. ${s.warmupSeconds} s warm-up, then ${s.seconds} s measured per system, in ` +
      `${s.rounds} round${s.rounds === 1 ? '' : 's'}, each round every system in turn. ` +
      `Redis: one redis-server (\`--save '' --appendonly no\`), connect-redis with one node-redis ` +
      `client. Statehouse: one node, or ${s.nodes} nodes with RF=${s.replicationFactor} and ` +
      `\`${s.statehouseDurability}\` writes; the store's own client. Latency is per 2xx response, ` +
      `as autocannon saw it; CPU is per 2xx response.`,
    '',
    results,
    '',
    `The issue's target, Statehouse / connect-redis: requests/s at least ` +
      `${times(r.targets.requestsRatioMin)}, p99 no worse (at most ${times(r.targets.p99RatioMax)}):`,
    '',
    checks,
    '',
  ];
}

export function renderMarkdown(report: BenchReport): string {
  const { machine: m, settings: s, memory } = report;
  const labelOf = (id: SystemId): string => report.systems.find((x) => x.id === id)?.label ?? id;
  const pool = poolText(s.redisPoolConnections, s.concurrency);
  const results = resultsTable(report.systems, phaseNames);
  const versus = [...new Set(report.ratios.map((r) => r.versus))];
  const ratioTable = table(
    ['phase', ...versus.flatMap((v) => [`throughput vs ${labelOf(v)}`, `p99 vs ${labelOf(v)}`])],
    phaseNames.map((phase) => [
      phaseLabels[phase],
      ...versus.flatMap((v) => {
        const r = report.ratios.find((x) => x.phase === phase && x.versus === v);
        return r === undefined ? ['', ''] : [times(r.throughput), times(r.p99)];
      }),
    ]),
  );
  const preload = table(
    ['system', 'preload seconds', 'preload sets/s'],
    report.systems
      .filter((sys) => sys.id !== 'redis-pool')
      .map((sys) => [sys.label, sys.preload.seconds.toFixed(2), int(sys.preload.opsPerSec)]),
  );
  const memoryTable = table(
    ['system', 'measure', 'bytes per entry'],
    [
      [
        'Statehouse',
        'payload (key + MessagePack value)',
        int(memory.payloadBytesPerEntry.statehouse),
      ],
      ['Statehouse', 'store accounting (stats().bytes)', int(memory.statehouse.storeBytesPerEntry)],
      ['Statehouse', 'V8 heapUsed', int(memory.statehouse.heapUsedBytesPerEntry)],
      ['Statehouse', 'external (Buffers)', int(memory.statehouse.externalBytesPerEntry)],
      ['Statehouse', 'heapUsed + external', int(memory.statehouse.heapBytesPerEntry)],
      ['Statehouse', 'process RSS', int(memory.statehouse.rssBytesPerEntry)],
      [
        'Statehouse',
        'process RSS after the timed phases',
        int(memory.statehouse.rssAfterPhasesBytesPerEntry),
      ],
      ['Redis', 'payload (key + JSON value)', int(memory.payloadBytesPerEntry.redis)],
      ['Redis', 'INFO used_memory', int(memory.redis.usedMemoryBytesPerEntry)],
      ['Redis', 'INFO used_memory_rss', int(memory.redis.rssBytesPerEntry)],
      [
        'Redis',
        'INFO used_memory_rss after the timed phases',
        int(memory.redis.rssAfterPhasesBytesPerEntry),
      ],
    ],
    2,
  );
  return [
    `## Statehouse vs Redis, ${report.generatedAt.slice(0, 10)}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.platform}; Node ${m.node}; Redis ${m.redis}; ` +
      `load average ${m.loadAverage1m.toFixed(2)} at the start.`,
    '',
    `Settings: ${int(s.keys)} keys \`key:0..${int(s.keys - 1)}\`, values a JSON object with a ` +
      `${int(s.valueBytes)}-character string field; ${s.concurrency} closed-loop callers; ` +
      `${s.warmupSeconds} s warm-up then ${s.seconds} s per phase; keys chosen uniformly at random. ` +
      `Statehouse: one node in its own process, one client connection with automatic pipelining, ` +
      `durability \`${s.statehouseDurability}\` (one node, so no backups to wait for). ` +
      `Redis: \`--save '' --appendonly no\`; ioredis with one auto-pipelined connection, or a pool of ${pool}. ` +
      `Values are encoded and decoded on the client in both (MessagePack for Statehouse, JSON for Redis). ` +
      `Each system's callers run in a load process of its own, with that system's client only; client CPU is that process's.`,
    '',
    results,
    '',
    'Ratios, Statehouse / Redis (throughput above 1: Statehouse faster; p99 above 1: Statehouse slower):',
    '',
    ratioTable,
    '',
    `Memory after loading ${int(memory.entries)} entries (after a full GC in the node), per entry:`,
    '',
    memoryTable,
    '',
    `Memory ratios: Statehouse heapUsed + external / Redis used_memory = ` +
      `${times(memory.ratios.heapVsUsedMemory)}; RSS / RSS = ${times(memory.ratios.rssVsRss)}.`,
    '',
    preload,
    '',
    ...renderReplicated(report.replicated, s.concurrency),
    ...renderHttp(report.http),
  ].join('\n');
}

export async function writeReport(outDir: string, report: BenchReport): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const markdown = renderMarkdown(report);
  await writeFile(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(outDir, 'latest.md'), markdown);
  return markdown;
}
