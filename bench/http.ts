/**
 * The HTTP section of `npm run bench`: the shop (examples/shop) under autocannon, the same
 * Express app with express-session on two stores: connect-redis on one redis-server, and
 * Statehouse's store on one node and on a three-node cluster with RF=2 and sync writes (the
 * deployed shape). This is what an application sees: the session store's cost inside a real
 * request (cookie signature, body parsing, the session load before the handler, the save
 * after it), not a store call alone.
 *
 * With nothing else of the bench running (the other sections' processes are stopped):
 * 1. For each system, start its servers (redis-server, or the node(s); the cluster is used
 *    once settled) and the shop in a process of its own (shop-process.ts), so that the web
 *    server does not share an event loop with the load generator. All three stay up.
 * 2. Make one session per autocannon connection: POST /login (a name; the shop regenerates the
 *    session and sets the cookie), then one POST /api/cart/add. Each connection then sends
 *    its own cookie, so the sessions never overlap and every request loads and saves one
 *    session of the same shape on either store.
 * 3. Warm each one up; then measure in rounds of about two seconds, each round every system in
 *    turn, so that the machine's load (other work on a shared two-core machine moves a lot)
 *    shifts every system about equally; the idle systems' background work (timers, the
 *    cluster's heartbeats: a few percent of a core) goes on during every system's rounds.
 *    Each connection sends, in turn and one at a time, POST
 *    /api/cart/add {tea} and POST /api/cart/update {tea, 1}. Why the pair: the cart grows by
 *    one element per add, and a session that grows through the run would make a later system
 *    pay for a bigger session; setting the quantity back to one keeps it at one or two units
 *    for every system. Both requests change the session, so each is a load and a save.
 * 4. Check afterwards that the store holds exactly one session per connection (a cookie the
 *    shop did not accept would have made each of its requests a new session, and the figures
 *    would mean nothing), and that every session is still its user's, with one to three units
 *    of tea (a run may end between the two requests, or with one in flight).
 * 5. Stop the shops and the servers, by pid, also when a step fails.
 *
 * Figures: 2xx responses per second; p50/p99 of the 2xx responses' times as autocannon saw
 * them (recorded here in microseconds; autocannon's own percentiles are whole milliseconds);
 * errors, timeouts and non-2xx; and CPU per response of the shop, of the servers, and of the
 * load generator, which say which process limits the throughput on a two-core machine.
 */
import { loadavg } from 'node:os';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { connectRedis, progress, redisCpuMicros, type Closers, type Settings } from './harness.js';
import { spawnNodeProcess } from './node-process.js';
import { startRedis } from './redis-server.js';
import { clusterSize, replicationFactor, startSettledCluster } from './replicated.js';
import {
  httpTargetChecks,
  httpTargetP99RatioMax,
  httpTargetRequestsRatioMin,
  type HttpReport,
  type HttpSystemId,
  type HttpSystemResult,
} from './report.js';
import { spawnShopProcess, type ShopProcess, type ShopSessions } from './shop-process.js';
import { runEach } from './workload.js';

/** What each connection sends, in turn, again and again: an add, then the quantity back to 1. */
export const cartCycle = [
  { path: '/api/cart/add', body: { productId: 'tea' } },
  { path: '/api/cart/update', body: { productId: 'tea', quantity: 1 } },
] as const;

/**
 * Sessions made at once before a run. Eight keeps the shop busy without a burst of logins;
 * with 64 connections it takes a fraction of a second.
 */
const sessionSetupConcurrency = 8;
/** One setup or check request; a loopback shop answers within milliseconds even when busy. */
const setupRequestTimeoutMs = 10_000;
/** autocannon checks whether its duration is over at every sample tick: 0.1 s granularity. */
const autocannonSampleMs = 100;
/** A request unanswered this long counts as a timeout (autocannon's default is 10 s too). */
const autocannonTimeoutSeconds = 10;

export interface BenchSession {
  /** `name=value`, as the connection sends it in its Cookie header. */
  readonly cookie: string;
  /** The user it logged in as. */
  readonly user: string;
}

async function post(
  url: string,
  cookie: string | null,
  type: string,
  body: string,
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': type, ...(cookie === null ? {} : { cookie }) },
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(setupRequestTimeoutMs),
  });
}

/**
 * Makes `count` sessions on the shop at `baseUrl`: each logs in as `bench-<i>` and adds one
 * unit of tea. Resolves with their cookies in order; fails if the shop sets no cookie or
 * refuses a request.
 */
export async function createSessions(baseUrl: string, count: number): Promise<BenchSession[]> {
  const sessions: BenchSession[] = new Array<BenchSession>(count);
  await runEach(count, sessionSetupConcurrency, async (i) => {
    const user = `bench-${i}`;
    const login = await post(
      `${baseUrl}/login`,
      null,
      'application/x-www-form-urlencoded',
      new URLSearchParams({ name: user }).toString(),
    );
    await login.arrayBuffer();
    const setCookie = login.headers.getSetCookie()[0];
    if (login.status !== 303 || setCookie === undefined) {
      throw new Error(`login of ${user}: status ${login.status}, set-cookie ${setCookie}`);
    }
    const cookie = setCookie.split(';')[0]!;
    const add = await post(
      `${baseUrl}${cartCycle[0].path}`,
      cookie,
      'application/json',
      JSON.stringify(cartCycle[0].body),
    );
    const text = await add.text();
    if (add.status !== 200) throw new Error(`first add of ${user}: ${add.status} ${text}`);
    sessions[i] = { cookie, user };
  });
  return sessions;
}

/**
 * Checks that every session is still its user's, with one to three units of tea (one or two
 * between the cycle's requests; three if a run's last add was cut off in flight and the next
 * run's first add landed too). Fails with the first session that is not.
 */
export async function checkSessions(
  baseUrl: string,
  sessions: readonly BenchSession[],
): Promise<void> {
  await runEach(sessions.length, sessionSetupConcurrency, async (i) => {
    const { cookie, user } = sessions[i]!;
    const response = await fetch(`${baseUrl}/api/cart`, {
      headers: { cookie },
      signal: AbortSignal.timeout(setupRequestTimeoutMs),
    });
    const text = await response.text();
    const cart = (response.status === 200 ? JSON.parse(text) : null) as {
      user?: unknown;
      items?: Record<string, unknown>;
    } | null;
    const tea = cart?.items?.['tea'];
    if (cart?.user !== user || typeof tea !== 'number' || tea < 1 || tea > 3) {
      throw new Error(`session of ${user} after the run: ${response.status} ${text}`);
    }
  });
}

interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly autocannonLatencyMs: { readonly p50: number; readonly p99: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

/** autocannon against the shop, one connection per session, for `seconds`. */
export function runCartLoad(
  baseUrl: string,
  sessions: readonly BenchSession[],
  seconds: number,
  histogram: RecordableHistogram = createHistogram(),
): Promise<LoadResult> {
  let nextClient = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: baseUrl,
        connections: sessions.length,
        pipelining: 1,
        duration: seconds,
        sampleInt: autocannonSampleMs,
        timeout: autocannonTimeoutSeconds,
        // Each connection is set up once, in order: it gets the next session's cookie.
        setupClient: (client) => {
          const { cookie } = sessions[nextClient++ % sessions.length]!;
          client.setRequests(
            cartCycle.map((request) => ({
              method: 'POST',
              path: request.path,
              headers: { cookie, 'content-type': 'application/json' },
              body: JSON.stringify(request.body),
            })),
          );
        },
      },
      (error, result) => {
        if (error !== null && error !== undefined) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const msOf = (percentile: number): number => histogram.percentile(percentile) / 1e3;
        resolve({
          requests: result['2xx'],
          seconds: result.duration,
          p50Ms: histogram.count > 0 ? msOf(50) : 0,
          p99Ms: histogram.count > 0 ? msOf(99) : 0,
          maxMs: histogram.count > 0 ? histogram.max / 1e3 : 0,
          autocannonLatencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
        });
      },
    );
    // The response time in fractional milliseconds; recorded in microseconds.
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) {
        histogram.record(Math.max(1, Math.round(responseTime * 1e3)));
      }
    });
  });
}

/** One system's servers, started, as the shop and the CPU accounting need them. */
interface OpenServers {
  readonly sessions: ShopSessions;
  readonly serverProcesses: number;
  serverCpuMicros(): Promise<number>;
  /** Sessions in the store: every key, since the shop writes nothing else (no lock, no index). */
  sessionCount(): Promise<number>;
}

interface HttpSystemSpec {
  readonly id: HttpSystemId;
  readonly label: string;
  open(settings: Settings, closers: Closers): Promise<OpenServers>;
}

const systemSpecs: readonly HttpSystemSpec[] = [
  {
    id: 'redis',
    label: 'connect-redis, 1 redis-server',
    async open(settings, closers) {
      const server = await startRedis(settings.redisBinary);
      closers.push(() => server.stop());
      const admin = await connectRedis(server.port, { enableAutoPipelining: false }, closers);
      progress(`http, redis: port ${server.port} (pid ${server.pid})`);
      return {
        sessions: { kind: 'redis', port: server.port },
        serverProcesses: 1,
        serverCpuMicros: () => redisCpuMicros(admin),
        sessionCount: () => admin.dbsize(),
      };
    },
  },
  {
    id: 'statehouse-1',
    label: 'Statehouse, 1 node',
    async open(settings, closers) {
      const node = await spawnNodeProcess(settings.nodeFlags);
      closers.push(() => node.stop());
      progress(`http, statehouse: node ${node.address} (pid ${node.pid})`);
      return {
        sessions: { kind: 'statehouse', seeds: [node.address] },
        serverProcesses: 1,
        serverCpuMicros: async () => (await node.sample(false)).cpuMicros,
        sessionCount: async () => (await node.sample(false)).primaryEntries,
      };
    },
  },
  {
    id: 'statehouse-3',
    label: `Statehouse, ${clusterSize} nodes, RF=${replicationFactor}`,
    async open(settings, closers) {
      const cluster = await startSettledCluster(settings, closers);
      progress(
        `http, statehouse cluster: ` +
          `${cluster.nodes.map((n) => `${n.address} (pid ${n.pid})`).join(', ')}; ` +
          `settled in ${cluster.settleMs} ms`,
      );
      // The bench's own client was only for the settle check: the shop brings its own.
      await cluster.client.close();
      return {
        sessions: { kind: 'statehouse', seeds: cluster.nodes.map((n) => n.address) },
        serverProcesses: cluster.nodes.length,
        serverCpuMicros: async () =>
          (await Promise.all(cluster.nodes.map((n) => n.sample(false)))).reduce(
            (sum, s) => sum + s.cpuMicros,
            0,
          ),
        sessionCount: async () =>
          (await Promise.all(cluster.nodes.map((n) => n.sample(false)))).reduce(
            (sum, s) => sum + s.primaryEntries,
            0,
          ),
      };
    },
  },
];

function ownCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** One system ready for its rounds: servers and shop running, sessions made, warmed up. */
interface OpenHttpSystem {
  readonly spec: HttpSystemSpec;
  readonly servers: OpenServers;
  readonly shop: ShopProcess;
  readonly sessions: readonly BenchSession[];
}

async function openSystem(
  spec: HttpSystemSpec,
  settings: Settings,
  closers: Closers,
): Promise<OpenHttpSystem> {
  const servers = await spec.open(settings, closers);
  const shop = await spawnShopProcess(servers.sessions, settings.shopFlags);
  closers.push(() => shop.stop());
  progress(`http, ${spec.label}: shop ${shop.url} (pid ${shop.pid})`);
  const sessions = await createSessions(shop.url, settings.httpConnections);
  if (settings.httpWarmupSeconds > 0) {
    await runCartLoad(shop.url, sessions, settings.httpWarmupSeconds);
  }
  return { spec, servers, shop, sessions };
}

/** What the rounds of one system add up to. */
class Tally {
  readonly histogram = createHistogram();
  requests = 0;
  seconds = 0;
  readonly roundRequestsPerSec: number[] = [];
  errors = 0;
  timeouts = 0;
  non2xx = 0;
  shopCpu = 0;
  serverCpu = 0;
  ownCpu = 0;
  loadAverageSum = 0;
  rounds = 0;
  autocannonP50Max = 0;
  autocannonP99Max = 0;
}

async function measureRound(system: OpenHttpSystem, seconds: number, tally: Tally): Promise<void> {
  const { shop, servers, sessions } = system;
  tally.loadAverageSum += loadavg()[0] ?? 0;
  const [shopBefore, serverBefore] = await Promise.all([
    shop.cpuMicros(),
    servers.serverCpuMicros(),
  ]);
  const ownBefore = ownCpuMicros();
  const load = await runCartLoad(shop.url, sessions, seconds, tally.histogram);
  tally.ownCpu += ownCpuMicros() - ownBefore;
  const [shopAfter, serverAfter] = await Promise.all([shop.cpuMicros(), servers.serverCpuMicros()]);
  tally.shopCpu += shopAfter - shopBefore;
  tally.serverCpu += serverAfter - serverBefore;
  tally.requests += load.requests;
  tally.seconds += load.seconds;
  tally.roundRequestsPerSec.push(load.requests / load.seconds);
  tally.errors += load.errors;
  tally.timeouts += load.timeouts;
  tally.non2xx += load.non2xx;
  tally.rounds++;
  tally.autocannonP50Max = Math.max(tally.autocannonP50Max, load.autocannonLatencyMs.p50);
  tally.autocannonP99Max = Math.max(tally.autocannonP99Max, load.autocannonLatencyMs.p99);
}

/** After the rounds: the store holds one session per connection, each its user's, cart small. */
async function checkAfterRounds(system: OpenHttpSystem): Promise<void> {
  const { spec, servers, shop, sessions } = system;
  const stored = await servers.sessionCount();
  if (stored !== sessions.length) {
    throw new Error(
      `http, ${spec.label}: the store holds ${stored} sessions after the run, not the ` +
        `${sessions.length} made before it: some requests were not sent with their cookie`,
    );
  }
  await checkSessions(shop.url, sessions);
}

function resultOf(system: OpenHttpSystem, tally: Tally): HttpSystemResult {
  const { spec, servers } = system;
  if (tally.requests === 0) {
    throw new Error(
      `http, ${spec.label}: no 2xx response (${tally.errors} errors, ` +
        `${tally.timeouts} timeouts, ${tally.non2xx} non-2xx)`,
    );
  }
  const perRequest = (micros: number): number => micros / tally.requests;
  const msOf = (percentile: number): number => tally.histogram.percentile(percentile) / 1e3;
  const result: HttpSystemResult = {
    id: spec.id,
    label: spec.label,
    serverProcesses: servers.serverProcesses,
    requests: tally.requests,
    seconds: tally.seconds,
    requestsPerSec: tally.requests / tally.seconds,
    roundRequestsPerSec: tally.roundRequestsPerSec,
    p50Ms: msOf(50),
    p99Ms: msOf(99),
    maxMs: tally.histogram.max / 1e3,
    autocannonLatencyMs: { p50: tally.autocannonP50Max, p99: tally.autocannonP99Max },
    errors: tally.errors,
    timeouts: tally.timeouts,
    non2xx: tally.non2xx,
    shopCpuUsPerRequest: perRequest(tally.shopCpu),
    serverCpuUsPerRequest: perRequest(tally.serverCpu),
    loadGeneratorCpuUsPerRequest: perRequest(tally.ownCpu),
    loadAverage1m: tally.loadAverageSum / tally.rounds,
  };
  if (tally.errors + tally.timeouts + tally.non2xx > 0) {
    progress(
      `  warning: ${spec.label}: ${tally.errors} errors, ${tally.timeouts} timeouts, ` +
        `${tally.non2xx} non-2xx`,
    );
  }
  progress(
    `  ${spec.label}: ${Math.round(result.requestsPerSec)} requests/s, ` +
      `p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms`,
  );
  return result;
}

/** Rounds of about this many seconds: short enough to interleave, long enough to be a run. */
const roundSecondsTarget = 2;

/** The measured time is cut into rounds of about two seconds, at least one. */
export function roundsOf(seconds: number): number {
  return Math.max(1, Math.round(seconds / roundSecondsTarget));
}

/**
 * Runs the HTTP section from start to end: every system opened (servers, shop, sessions,
 * warm-up), then the measured time in rounds, each round every system in turn, so that a
 * change in the machine's load during the section shifts all of them about equally. Every
 * process is stopped before this returns or throws.
 */
export async function runHttpSection(settings: Settings): Promise<HttpReport> {
  const loadAtStart = loadavg()[0] ?? 0;
  const closers: Closers = [];
  let systems: HttpSystemResult[];
  const rounds = roundsOf(settings.httpSeconds);
  try {
    const open: OpenHttpSystem[] = [];
    for (const spec of systemSpecs) open.push(await openSystem(spec, settings, closers));
    const tallies = open.map(() => new Tally());
    for (let round = 0; round < rounds; round++) {
      for (const [i, system] of open.entries()) {
        await measureRound(system, settings.httpSeconds / rounds, tallies[i]!);
      }
    }
    for (const system of open) await checkAfterRounds(system);
    systems = open.map((system, i) => resultOf(system, tallies[i]!));
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
  return {
    loadAverage1m: loadAtStart,
    settings: {
      connections: settings.httpConnections,
      seconds: settings.httpSeconds,
      warmupSeconds: settings.httpWarmupSeconds,
      rounds,
      cycle: cartCycle.map((r) => `POST ${r.path} ${JSON.stringify(r.body)}`),
      nodes: clusterSize,
      replicationFactor,
      statehouseDurability: 'sync',
    },
    systems,
    targets: {
      requestsRatioMin: httpTargetRequestsRatioMin,
      p99RatioMax: httpTargetP99RatioMax,
      checks: httpTargetChecks(systems),
    },
  };
}
