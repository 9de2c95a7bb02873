/**
 * `npm run bench`: Statehouse and Redis side by side, on this machine, in one run.
 *
 * 1. Start redis-server and one Statehouse node, each in a process of its own.
 * 2. Load N keys into each (measuring memory before and after); then for each phase (100% get,
 *    100% set, 90/10 mix) and each system in turn, warm up, then run C closed-loop callers for
 *    a fixed time. Redis is measured twice: one auto-pipelined ioredis connection, and a pool.
 *    Stop both servers.
 * 3. The replicated section (replicated.ts): three Statehouse nodes with RF=2 and sync writes
 *    against a Redis primary and replica with SET + WAIT 1, the set and mix phases the same way.
 * 4. The HTTP section (http.ts): the shop's cart API under autocannon, the same Express app on
 *    express-session + connect-redis + redis-server and on Statehouse's store (one node, and
 *    three with RF=2), one system at a time.
 * 5. Write bench/results/latest.{md,json} and print the markdown.
 *
 * Flags: --seconds S (per phase, default 5), --concurrency C (default 64), --keys N (default
 * 100000), --value-bytes B (default 1024), --warmup S (default 1), --durability sync|async,
 * --quick (2000 keys, 1 s phases, 16 callers, for a smoke run), --out DIR, --redis-server PATH,
 * --node-flags="FLAGS" (given to every node process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
 * --replicated-only (skip the single-node section; print the replicated section's figures as
 * JSON and markdown, and write no report: for measuring a change to the replicated path),
 * --http-connections C (default 64), --http-seconds S (default 20), --http-warmup S (default 2),
 * --shop-flags="FLAGS" (given to every shop process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
 * --http-only (only the HTTP section; prints, writes no report, like --replicated-only).
 * --quick makes the HTTP section 16 connections, 0.5 s warm-up and 1 s per system.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { loadClient } from './built.js';
import { encodeValue } from '../src/core/value-codec.js';
import { spawnNodeProcess, type NodeProcess, type NodeSample } from './node-process.js';
import { stopAll } from './processes.js';
import { startRedis } from './redis-server.js';
import { runHttpSection } from './http.js';
import { runReplicatedSection } from './replicated.js';
import { spawnLoadProcess, type LoadProcess } from './load-process.js';
import {
  benchKey,
  benchValue,
  connectRedis,
  infoNumber,
  measurePhase,
  progress,
  redisCpuMicros,
  redisInfo,
  redisPoolConnectionsMax,
  redisSet,
  type Closers,
  type Doc,
  type OpenSystem,
  type Settings,
} from './harness.js';
import {
  phaseNames,
  ratios,
  renderHttp,
  renderReplicated,
  writeReport,
  type BenchReport,
  type MeasuredPhase,
  type MemoryResult,
  type PhaseName,
  type SystemId,
  type SystemResult,
} from './report.js';
import { runEach } from './workload.js';

/** Two and a half periods of Redis's default cron (hz 10), which refreshes its RSS figure. */
const redisCronWaitMs = 250;

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      keys: { type: 'string' },
      'value-bytes': { type: 'string' },
      warmup: { type: 'string' },
      durability: { type: 'string', default: 'sync' },
      out: { type: 'string' },
      'redis-server': { type: 'string', default: 'redis-server' },
      'node-flags': { type: 'string', default: '' },
      'replicated-only': { type: 'boolean', default: false },
      'http-connections': { type: 'string' },
      'http-seconds': { type: 'string' },
      'http-warmup': { type: 'string' },
      'shop-flags': { type: 'string', default: '' },
      'http-only': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const quick = values.quick === true;
  const number = (
    name: string,
    given: string | undefined,
    fallback: number,
    min: number,
  ): number => {
    const n = given === undefined ? fallback : Number(given);
    if (!Number.isFinite(n) || n < min) {
      throw new Error(`--${name} must be a number >= ${min}, got ${given}`);
    }
    return n;
  };
  const durability = values.durability;
  if (durability !== 'sync' && durability !== 'async') {
    throw new Error(`--durability must be sync or async, got ${durability}`);
  }
  return {
    keys: Math.floor(number('keys', values.keys, quick ? 2_000 : 100_000, 1)),
    valueBytes: Math.floor(number('value-bytes', values['value-bytes'], 1024, 0)),
    concurrency: Math.floor(number('concurrency', values.concurrency, quick ? 16 : 64, 1)),
    seconds: number('seconds', values.seconds, quick ? 1 : 5, 0.1),
    warmupSeconds: number('warmup', values.warmup, quick ? 0.2 : 1, 0),
    durability,
    outDir: values.out ?? fileURLToPath(new URL('results', import.meta.url)),
    redisBinary: values['redis-server'],
    nodeFlags: values['node-flags'].split(/\s+/).filter((f) => f.length > 0),
    replicatedOnly: values['replicated-only'] === true,
    httpConnections: Math.floor(
      number('http-connections', values['http-connections'], quick ? 16 : 64, 1),
    ),
    httpSeconds: number('http-seconds', values['http-seconds'], quick ? 1 : 20, 0.1),
    httpWarmupSeconds: number('http-warmup', values['http-warmup'], quick ? 0.5 : 2, 0),
    shopFlags: values['shop-flags'].split(/\s+/).filter((f) => f.length > 0),
    httpOnly: values['http-only'] === true,
  };
}

async function openStatehouse(
  settings: Settings,
  keys: readonly string[],
  valueOf: (i: number) => Doc,
  closers: Closers,
): Promise<{
  system: OpenSystem;
  memory: Omit<MemoryResult['statehouse'], 'rssAfterPhasesBytesPerEntry'>;
  /** RSS now minus before loading, per entry. */
  rssGrowthPerEntry(): Promise<number>;
}> {
  const { connect } = await loadClient();
  // 'memory': sampled after full GCs, for the memory figures; 'timed': never forced to collect.
  const loadedNode = async (
    role: 'memory' | 'timed',
  ): Promise<{
    node: NodeProcess;
    before: NodeSample;
    after: NodeSample;
    preload: OpenSystem['preload'];
  }> => {
    const node = await spawnNodeProcess(settings.nodeFlags);
    closers.push(() => node.stop());
    const client = await connect({
      seeds: node.address,
      name: 'bench',
      durability: settings.durability,
    });
    closers.push(() => client.close());
    progress(
      `statehouse: ${role} node ${node.address} (pid ${node.pid}), loading ${keys.length} keys`,
    );
    const sampleWithGc = role === 'memory';
    const before = await node.sample(sampleWithGc);
    const preload = await runEach(keys.length, settings.concurrency, (i) =>
      client.set(keys[i]!, valueOf(i)),
    );
    const after = await node.sample(sampleWithGc);
    await client.close();
    if (after.entries !== keys.length) {
      throw new Error(`statehouse holds ${after.entries} entries after loading ${keys.length}`);
    }
    return { node, before, after, preload };
  };
  const perEntry = (a: number, b: number): number => (a - b) / keys.length;

  // Memory is measured after full GCs, on a node of its own that is then stopped: a node whose
  // collector was forced (--expose-gc's gc()) went on, in some runs, to start a full GC every
  // tenth of a second through a later phase, doubling its CPU per operation there
  // (docs/design-notes.md, Runtime). The timed phases run on a second node, loaded the same
  // way, that no one forces to collect, as no one does in production.
  const measured = await loadedNode('memory');
  const { before, after } = measured;
  const memory = {
    rssBytesPerEntry: perEntry(after.rss, before.rss),
    heapUsedBytesPerEntry: perEntry(after.heapUsed, before.heapUsed),
    externalBytesPerEntry: perEntry(after.external, before.external),
    heapBytesPerEntry: perEntry(after.heapUsed + after.external, before.heapUsed + before.external),
    storeBytesPerEntry: perEntry(after.storeBytes, before.storeBytes),
  };
  await measured.node.stop();

  const timed = await loadedNode('timed');
  const node = timed.node;
  const load = await spawnLoadProcess({
    system: { kind: 'statehouse', seeds: [node.address], durability: settings.durability },
    keys: keys.length,
    valueBytes: settings.valueBytes,
    concurrency: settings.concurrency,
  });
  closers.push(() => load.stop());
  const system: OpenSystem = {
    id: 'statehouse',
    label: 'Statehouse',
    load,
    preload: measured.preload,
    serverCpuMicros: async () => (await node.sample(false)).cpuMicros,
  };
  // At the end of the run a forced GC no longer disturbs anything.
  const rssGrowthPerEntry = async (): Promise<number> =>
    perEntry((await node.sample(true)).rss, timed.before.rss);
  return { system, memory, rssGrowthPerEntry };
}

async function openRedis(
  settings: Settings,
  keys: readonly string[],
  valueOf: (i: number) => Doc,
  closers: Closers,
): Promise<{
  systems: OpenSystem[];
  memory: Omit<MemoryResult['redis'], 'rssAfterPhasesBytesPerEntry'>;
  rssGrowthPerEntry(): Promise<number>;
  version: string;
  poolConnections: number;
}> {
  const server = await startRedis(settings.redisBinary);
  closers.push(() => server.stop());
  const open = (options: { enableAutoPipelining: boolean }): Promise<Redis> =>
    connectRedis(server.port, options, closers);
  progress(`redis: port ${server.port} (pid ${server.pid}), loading ${keys.length} keys`);
  const admin = await open({ enableAutoPipelining: false });
  const info = (section: string): Promise<Map<string, string>> => redisInfo(admin, section);
  const serverCpuMicros = (): Promise<number> => redisCpuMicros(admin);
  // Redis refreshes used_memory_rss in its cron (10 times a second by default): wait for it.
  const memoryInfo = async (): Promise<Map<string, string>> => {
    await new Promise((resolve) => setTimeout(resolve, redisCronWaitMs));
    return info('memory');
  };
  const version = (await info('server')).get('redis_version') ?? 'unknown';

  const auto = await open({ enableAutoPipelining: true });
  const before = await memoryInfo();
  const preload = await runEach(keys.length, settings.concurrency, (i) =>
    redisSet(auto, keys[i]!, valueOf(i)),
  );
  const after = await memoryInfo();
  const entries = await admin.dbsize();
  if (entries !== keys.length)
    throw new Error(`redis holds ${entries} keys after loading ${keys.length}`);
  const perEntry = (name: string): number =>
    (infoNumber(after, name) - infoNumber(before, name)) / keys.length;
  const memory = {
    usedMemoryBytesPerEntry: perEntry('used_memory'),
    rssBytesPerEntry: perEntry('used_memory_rss'),
  };

  const poolSize = Math.min(settings.concurrency, redisPoolConnectionsMax);
  const loadOf = async (poolConnections: number): Promise<LoadProcess> => {
    const load = await spawnLoadProcess({
      system: { kind: 'redis', port: server.port, poolConnections },
      keys: keys.length,
      valueBytes: settings.valueBytes,
      concurrency: settings.concurrency,
    });
    closers.push(() => load.stop());
    return load;
  };
  const systems: OpenSystem[] = [
    {
      id: 'redis-auto',
      label: 'Redis, auto-pipelined',
      load: await loadOf(0),
      preload,
      serverCpuMicros,
    },
    {
      id: 'redis-pool',
      label: `Redis, pool of ${poolSize}`,
      load: await loadOf(poolSize),
      preload,
      serverCpuMicros,
    },
  ];
  const rssGrowthPerEntry = async (): Promise<number> =>
    (infoNumber(await memoryInfo(), 'used_memory_rss') - infoNumber(before, 'used_memory_rss')) /
    keys.length;
  return { systems, memory, rssGrowthPerEntry, version, poolConnections: poolSize };
}

async function main(): Promise<void> {
  const settings = readSettings();
  // Other work on the machine skews every figure: the report says how busy it was at the start.
  const loadAverage1m = loadavg()[0] ?? 0;
  const valueOf = benchValue(settings.valueBytes);
  const keys = Array.from({ length: settings.keys }, (_, i) => benchKey(i));

  if (settings.replicatedOnly && settings.httpOnly) {
    throw new Error('--replicated-only and --http-only: give one of them');
  }
  if (settings.httpOnly) {
    const http = await runHttpSection(settings);
    console.log(JSON.stringify(http, null, 2));
    console.log(renderHttp(http).join('\n'));
    return;
  }
  if (settings.replicatedOnly) {
    const replicated = await runReplicatedSection(settings, keys, valueOf, () => loadavg()[0] ?? 0);
    console.log(JSON.stringify(replicated, null, 2));
    console.log(renderReplicated(replicated, settings.concurrency).join('\n'));
    return;
  }

  const closers: Closers = [];
  let single: Omit<BenchReport, 'replicated' | 'http'>;
  try {
    const statehouse = await openStatehouse(settings, keys, valueOf, closers);
    const redis = await openRedis(settings, keys, valueOf, closers);
    const open = [statehouse.system, ...redis.systems];
    // Phase by phase, every system in turn: a change in the machine's load during the run
    // then shifts the figures that are compared with each other about equally.
    const phases = new Map<SystemId, Partial<Record<PhaseName, MeasuredPhase>>>();
    for (const phase of phaseNames) {
      for (const system of open) {
        const done = phases.get(system.id) ?? {};
        done[phase] = await measurePhase(system, phase, settings);
        phases.set(system.id, done);
      }
    }
    // Memory again after the phases: a set replaces a value, and the old one's memory may not
    // go back to the system (fragmentation), nor may per-write bookkeeping be forgotten yet.
    const shRssAfter = await statehouse.rssGrowthPerEntry();
    const redisRssAfter = await redis.rssGrowthPerEntry();
    const systems: SystemResult[] = open.map((s) => ({
      id: s.id,
      label: s.label,
      preload: s.preload,
      phases: phases.get(s.id) as Record<PhaseName, MeasuredPhase>,
    }));

    const middle = Math.floor(keys.length / 2);
    const keyBytes = Buffer.byteLength(keys[middle]!);
    single = {
      generatedAt: new Date().toISOString(),
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: availableParallelism(),
        node: process.version,
        redis: redis.version,
        platform: `${process.platform} ${process.arch}`,
        loadAverage1m,
      },
      settings: {
        keys: settings.keys,
        valueBytes: settings.valueBytes,
        concurrency: settings.concurrency,
        redisPoolConnections: redis.poolConnections,
        seconds: settings.seconds,
        warmupSeconds: settings.warmupSeconds,
        statehouseDurability: settings.durability,
      },
      systems,
      ratios: ratios(systems),
      memory: {
        entries: settings.keys,
        payloadBytesPerEntry: {
          statehouse: keyBytes + encodeValue(valueOf(middle)).length,
          redis: keyBytes + Buffer.byteLength(JSON.stringify(valueOf(middle))),
        },
        statehouse: { ...statehouse.memory, rssAfterPhasesBytesPerEntry: shRssAfter },
        redis: { ...redis.memory, rssAfterPhasesBytesPerEntry: redisRssAfter },
        ratios: {
          heapVsUsedMemory:
            statehouse.memory.heapBytesPerEntry / redis.memory.usedMemoryBytesPerEntry,
          rssVsRss: statehouse.memory.rssBytesPerEntry / redis.memory.rssBytesPerEntry,
        },
      },
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
  // Only now, with the single node and its Redis stopped: the two sections never share the
  // machine's two cores.
  const replicated = await runReplicatedSection(settings, keys, valueOf, () => loadavg()[0] ?? 0);
  // Then the HTTP section, each of its systems alone on the machine too.
  const http = await runHttpSection(settings);
  const report: BenchReport = { ...single, replicated, http };
  const markdown = await writeReport(settings.outDir, report);
  console.log(markdown);
  progress(`wrote ${settings.outDir}/latest.md and latest.json`);
}

/** Set once a signal arrived: from then on its handler, not a failing phase, ends the run. */
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // `on`, not `once`: a second Ctrl-C while the servers stop must not kill the bench with its
  // default action, which would skip the stops (and the exit handler) and orphan redis-server.
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping the servers`);
    void stopAll().finally(() => process.exit(130));
  });
}

main().catch(async (error: unknown) => {
  // Servers stopped by a signal make the calls in flight fail; that is not an error to report.
  if (interrupted) return;
  console.error(error);
  await stopAll();
  process.exit(1);
});
