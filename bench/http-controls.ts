/**
 * `npm run bench:http-controls`: where the HTTP section's gap comes from, by controls.
 *
 * The HTTP section (http.ts) compares the shop on connect-redis + redis-server with the shop
 * on Statehouse's store. This runs the same shop, the same cart cycle and the same autocannon
 * load against these servers, in paired rounds:
 *   redis            connect-redis + redis-server (the HTTP section's baseline);
 *   redis-no-timeouts  the same, with node-redis's 5-second timeout per command turned off:
 *                    each command's AbortSignal.timeout lives 5 s, long enough to be promoted,
 *                    and so many of them keep the shop's old-generation pages in use, which
 *                    changes how much fresh memory the shop's V8 has to map (see
 *                    docs/design-notes.md);
 *   redis-with-client  connect-redis + redis-server, with a Statehouse client connected to a
 *                    node beside it, used by the shop only to show each session's partition
 *                    and primary as it does on Statehouse's store: what the client's presence
 *                    and that display cost, apart from the store's loads and saves;
 *   node-resp        connect-redis + a minimal Node.js Redis-protocol server (resp-server.ts):
 *                    what a server written in Node.js costs the machine, with the web
 *                    server's code unchanged;
 *   node-resp-burn   the same server spinning --burn-us of CPU per command, so that it costs
 *                    about as much CPU per request as a Statehouse node: what a server that
 *                    busy, beside the shop on the same cores, does to the shop;
 *   statehouse-whole  one Statehouse node, and in the shop a store of a few lines that keeps each
 *                    session whole as JSON text through Statehouse's client, as connect-redis
 *                    does through node-redis (shop-process.ts, WholeSessionStore): what the
 *                    client and the node cost the shop, apart from the merge store;
 *   statehouse       Statehouse's express-session store and one node (the HTTP section's).
 * Each round runs every system in turn for --round-seconds; the ratios to `redis` are taken
 * per round and averaged, with their standard error, so that a change in the machine's speed
 * during the run cancels out. "all CPU" adds up every process of a system (the shop, the
 * server, a control's other processes) and the load generator (autocannon, in this
 * process); "cores busy" is that times requests/s. When it is near the machine's core count
 * for every system, the machine is saturated and requests/s go as the inverse of all CPU
 * per request, wherever that CPU is spent; well below it, as the shop's main thread.
 * --shop-flags go to node for every shop alike (for instance `--single-threaded-gc`, to see
 * what V8's GC helper threads account for).
 *
 * Flags: --rounds N (default 10), --round-seconds S (default 2), --burn-us U (default 12),
 * --connections C (autocannon connections, one session each, default 64), --shop-flags "...",
 * --node-flags "..." (for the Statehouse node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
 * --out FILE (also writes the table there), --servers redis,statehouse (a subset, redis
 * first; default all seven), --pin (Linux, taskset: each shop's main thread on a CPU of its
 * own, see pinThreads). Prints a markdown table. Needs redis-server on the PATH.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus as machineCpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { checkSessions, createSessions, runCartLoad, type BenchSession } from './http.js';
import { spawnNodeProcess } from './node-process.js';
import {
  mainThreadCpuMicros,
  minorFaults,
  processCpuMicros,
  processSyscalls,
} from './proc-stat.js';
import { stopAll } from './processes.js';
import { startRedis } from './redis-server.js';
import { spawnRespServer } from './resp-server.js';
import { spawnShopProcess, type ShopProcess, type ShopSessions } from './shop-process.js';

/** The servers, in the order they run in each round; the first is what the ratios divide by. */
const serverKinds = [
  'redis',
  'redis-no-timeouts',
  'redis-with-client',
  'node-resp',
  'node-resp-burn',
  'statehouse-whole',
  'statehouse',
] as const;
type ServerKind = (typeof serverKinds)[number];

interface Settings {
  readonly rounds: number;
  readonly roundSeconds: number;
  readonly burnUs: number;
  readonly connections: number;
  readonly shopFlags: readonly string[];
  readonly nodeFlags: readonly string[];
  readonly out: string | undefined;
  readonly servers: readonly ServerKind[];
  readonly pin: boolean;
}

interface Server {
  readonly sessions: ShopSessions;
  /** The process whose CPU counts as the server's. */
  readonly pid: number;
  /** Processes of the control beside it (pinned with it, not counted). */
  readonly otherPids?: readonly number[];
  stop(): Promise<void>;
}

interface System {
  readonly label: string;
  readonly server: Server;
  readonly shop: ShopProcess;
  readonly sessions: readonly BenchSession[];
  readonly requestsPerSec: number[];
  readonly shopCpuUsPerRequest: number[];
  /** The shop's main thread: the one a web server's throughput is bound by. */
  readonly shopMainCpuUsPerRequest: number[];
  readonly shopFaultsPerRequest: number[];
  readonly serverCpuUsPerRequest: number[];
  /** System calls that read or write (read, write, writev, recv, send...), per request. */
  readonly shopSyscallsPerRequest: number[];
  readonly serverSyscallsPerRequest: number[];
  /**
   * Every process of the system (shop, server, a control's other processes) and the load
   * generator (autocannon, in this process): on a machine whose cores they saturate,
   * requests/s follow this.
   */
  readonly allCpuUsPerRequest: number[];
}

const warmupSeconds = 2;

function settingsFrom(argv: readonly string[]): Settings {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string', default: '10' },
      'round-seconds': { type: 'string', default: '2' },
      'burn-us': { type: 'string', default: '12' },
      connections: { type: 'string', default: '64' },
      'shop-flags': { type: 'string', default: '' },
      'node-flags': { type: 'string', default: '' },
      out: { type: 'string' },
      servers: { type: 'string', default: serverKinds.join(',') },
      pin: { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  return {
    rounds: Math.max(2, Math.floor(positive('rounds', values.rounds))),
    roundSeconds: positive('round-seconds', values['round-seconds']),
    burnUs: values['burn-us'] === '0' ? 0 : positive('burn-us', values['burn-us']),
    connections: Math.floor(positive('connections', values.connections)),
    shopFlags: values['shop-flags'].split(/\s+/).filter((f) => f.length > 0),
    nodeFlags: values['node-flags'].split(/\s+/).filter((f) => f.length > 0),
    out: values.out,
    servers: serversFrom(values.servers),
    pin: values.pin,
  };
}

/** `--servers`: a comma-separated subset of serverKinds, `redis` first (the ratios' base). */
function serversFrom(text: string): ServerKind[] {
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(serverKinds as readonly string[]).includes(name));
  if (unknown.length > 0 || names[0] !== 'redis' || new Set(names).size !== names.length) {
    throw new Error(
      `--servers takes redis first, then any of ${serverKinds.join(', ')}, each once`,
    );
  }
  return names as ServerKind[];
}

/**
 * `--pin`: the shop's main thread gets CPU 0 to itself; its other threads (V8's GC helpers,
 * libuv's pool), the server's and this process's (autocannon) share the other CPUs. That
 * stands in for a web server whose request thread does not share its core with a state server
 * and a load generator, as on two machines. Run again before each round, as threads come and go.
 */
function pinThreads(systems: readonly System[]): void {
  // cpus(), not availableParallelism(): the latter shrinks once this process is pinned.
  const cpus = machineCpus().length;
  if (cpus < 2) throw new Error('--pin needs at least two CPUs');
  const rest = `1-${cpus - 1}`;
  const taskset = (args: string[]): void => {
    execFileSync('taskset', args, { stdio: 'ignore' });
  };
  for (const { shop, server } of systems) {
    taskset(['-p', '-c', '0', String(shop.pid)]);
    for (const tid of readdirSync(`/proc/${shop.pid}/task`)) {
      if (tid === String(shop.pid)) continue;
      try {
        taskset(['-p', '-c', rest, tid]);
      } catch {
        // A helper thread that ended since the directory was read: nothing to pin.
      }
    }
    for (const pid of [server.pid, ...(server.otherPids ?? [])]) {
      taskset(['-a', '-p', '-c', rest, String(pid)]);
    }
  }
  taskset(['-a', '-p', '-c', rest, String(process.pid)]);
}

async function openServer(kind: ServerKind, settings: Settings): Promise<Server> {
  switch (kind) {
    case 'redis':
    case 'redis-no-timeouts': {
      const redis = await startRedis();
      const sessions: ShopSessions =
        kind === 'redis'
          ? { kind: 'redis', port: redis.port }
          : { kind: 'redis', port: redis.port, commandTimeouts: false };
      return { sessions, pid: redis.pid, stop: redis.stop };
    }
    case 'redis-with-client': {
      const redis = await startRedis();
      const node = await spawnNodeProcess(settings.nodeFlags);
      return {
        sessions: { kind: 'redis', port: redis.port, alsoStatehouseSeeds: [node.address] },
        // The server whose CPU is counted is the one the sessions live on.
        pid: redis.pid,
        otherPids: [node.pid],
        stop: async () => {
          await redis.stop();
          await node.stop();
        },
      };
    }
    case 'node-resp':
    case 'node-resp-burn': {
      const resp = await spawnRespServer(kind === 'node-resp' ? 0 : settings.burnUs);
      return { sessions: { kind: 'redis', port: resp.port }, pid: resp.pid, stop: resp.stop };
    }
    case 'statehouse':
    case 'statehouse-whole': {
      const node = await spawnNodeProcess(settings.nodeFlags);
      return {
        sessions: {
          kind: 'statehouse',
          seeds: [node.address],
          ...(kind === 'statehouse-whole' && { wholeSessions: true }),
        },
        pid: node.pid,
        stop: () => node.stop(),
      };
    }
  }
}

async function openSystem(kind: ServerKind, settings: Settings): Promise<System> {
  const server = await openServer(kind, settings);
  const shop = await spawnShopProcess(server.sessions, settings.shopFlags);
  const sessions = await createSessions(shop.url, settings.connections);
  await runCartLoad(shop.url, sessions, warmupSeconds);
  const label = kind === 'node-resp-burn' ? `node-resp-burn (${settings.burnUs} µs)` : kind;
  return {
    label,
    server,
    shop,
    sessions,
    requestsPerSec: [],
    shopCpuUsPerRequest: [],
    shopMainCpuUsPerRequest: [],
    shopFaultsPerRequest: [],
    serverCpuUsPerRequest: [],
    shopSyscallsPerRequest: [],
    serverSyscallsPerRequest: [],
    allCpuUsPerRequest: [],
  };
}

async function measureRound(system: System, seconds: number): Promise<void> {
  const shopBefore = await system.shop.cpuMicros();
  const shopMainBefore = mainThreadCpuMicros(system.shop.pid);
  const shopFaultsBefore = minorFaults(system.shop.pid);
  const serverBefore = processCpuMicros(system.server.pid);
  const shopCallsBefore = processSyscalls(system.shop.pid);
  const serverCallsBefore = processSyscalls(system.server.pid);
  const others = system.server.otherPids ?? [];
  const othersCpu = (): number => others.reduce((sum, pid) => sum + processCpuMicros(pid), 0);
  const othersBefore = othersCpu();
  const loadBefore = process.cpuUsage();
  const load = await runCartLoad(system.shop.url, system.sessions, seconds);
  const loadCpu = process.cpuUsage(loadBefore);
  const othersAfter = othersCpu();
  const shopAfter = await system.shop.cpuMicros();
  const shopMainAfter = mainThreadCpuMicros(system.shop.pid);
  const shopFaultsAfter = minorFaults(system.shop.pid);
  const serverAfter = processCpuMicros(system.server.pid);
  const shopCallsAfter = processSyscalls(system.shop.pid);
  const serverCallsAfter = processSyscalls(system.server.pid);
  if (load.requests === 0 || load.errors + load.timeouts + load.non2xx > 0) {
    throw new Error(
      `${system.label}: ${load.requests} 2xx, ${load.errors} errors, ` +
        `${load.timeouts} timeouts, ${load.non2xx} non-2xx`,
    );
  }
  system.requestsPerSec.push(load.requests / load.seconds);
  system.shopCpuUsPerRequest.push((shopAfter - shopBefore) / load.requests);
  system.shopMainCpuUsPerRequest.push((shopMainAfter - shopMainBefore) / load.requests);
  system.shopFaultsPerRequest.push((shopFaultsAfter - shopFaultsBefore) / load.requests);
  system.serverCpuUsPerRequest.push((serverAfter - serverBefore) / load.requests);
  system.shopSyscallsPerRequest.push((shopCallsAfter - shopCallsBefore) / load.requests);
  system.serverSyscallsPerRequest.push((serverCallsAfter - serverCallsBefore) / load.requests);
  const allCpu =
    shopAfter -
    shopBefore +
    (serverAfter - serverBefore) +
    (othersAfter - othersBefore) +
    loadCpu.user +
    loadCpu.system;
  system.allCpuUsPerRequest.push(allCpu / load.requests);
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function standardError(xs: readonly number[]): number {
  const m = mean(xs);
  const variance = xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
  return Math.sqrt(variance / xs.length);
}

/** Per-round ratios of `xs` to `base`, as "mean ± standard error". */
function pairedRatio(xs: readonly number[], base: readonly number[]): string {
  const ratios = xs.map((x, i) => x / base[i]!);
  return `${mean(ratios).toFixed(3)} ± ${standardError(ratios).toFixed(3)}`;
}

function report(systems: readonly System[], settings: Settings): string {
  const base = systems[0]!;
  const flagsText = (flags: readonly string[]): string =>
    flags.length > 0 ? flags.join(' ') : 'none';
  const lines = [
    `\`npm run bench:http-controls\` on ${new Date().toISOString().slice(0, 10)}, load average ` +
      `${loadavg()[0]!.toFixed(2)} at the end: ${settings.rounds} rounds of ${settings.roundSeconds} s per system, ` +
      `${settings.connections} connections; shop flags: ${flagsText(settings.shopFlags)}; ` +
      `node flags: ${flagsText(settings.nodeFlags)}; ` +
      (settings.pin
        ? "pinned: each shop's main thread on CPU 0, all other threads on the other CPUs."
        : 'not pinned.'),
    '',
    '| system | requests/s | shop CPU µs/req | shop main thread µs/req | shop page faults/req | server CPU µs/req | all CPU µs/req | cores busy | shop syscalls/req | server syscalls/req | requests/s vs redis | shop CPU vs redis | shop main thread vs redis | all CPU vs redis |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of systems) {
    lines.push(
      `| ${s.label} | ${mean(s.requestsPerSec).toFixed(0)} | ` +
        `${mean(s.shopCpuUsPerRequest).toFixed(1)} | ${mean(s.shopMainCpuUsPerRequest).toFixed(1)} | ` +
        `${mean(s.shopFaultsPerRequest).toFixed(2)} | ${mean(s.serverCpuUsPerRequest).toFixed(1)} | ` +
        `${mean(s.allCpuUsPerRequest).toFixed(1)} | ` +
        `${mean(s.allCpuUsPerRequest.map((c, i) => (c * s.requestsPerSec[i]!) / 1e6)).toFixed(2)} | ` +
        `${mean(s.shopSyscallsPerRequest).toFixed(2)} | ${mean(s.serverSyscallsPerRequest).toFixed(2)} | ` +
        `${pairedRatio(s.requestsPerSec, base.requestsPerSec)} | ` +
        `${pairedRatio(s.shopCpuUsPerRequest, base.shopCpuUsPerRequest)} | ` +
        `${pairedRatio(s.shopMainCpuUsPerRequest, base.shopMainCpuUsPerRequest)} | ` +
        `${pairedRatio(s.allCpuUsPerRequest, base.allCpuUsPerRequest)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const settings = settingsFrom(process.argv.slice(2));
  const systems: System[] = [];
  try {
    for (const kind of settings.servers) {
      systems.push(await openSystem(kind, settings));
    }
    // For matching a tracer's or profiler's output (--shop-flags) to its shop.
    console.log(`shops: ${systems.map((s) => `${s.label} pid ${s.shop.pid}`).join(', ')}`);
    for (let round = 0; round < settings.rounds; round++) {
      if (settings.pin) pinThreads(systems);
      for (const system of systems) await measureRound(system, settings.roundSeconds);
    }
    // A store that lost writes would look cheaper than it is: every session must still hold
    // its user and its cart.
    for (const system of systems) await checkSessions(system.shop.url, system.sessions);
    const table = report(systems, settings);
    console.log(table);
    if (settings.out !== undefined) writeFileSync(settings.out, `${table}\n`);
  } finally {
    for (const system of systems) {
      await system.shop.stop();
      await system.server.stop();
    }
    await stopAll();
  }
}

process.once('SIGINT', () => {
  void stopAll().finally(() => process.exit(130));
});

main().catch((error: unknown) => {
  console.error('bench:http-controls failed:', error);
  process.exitCode = 1;
});
