/**
 * The HTTP section of `npm run bench`: the shop (examples/shop) under autocannon, the same
 * Express app with express-session on two stores: connect-redis on one redis-server, and
 * Statehouse's store on one node and on a three-node cluster with RF=2 and sync writes (the
 * deployed shape). This is what an application sees: the session store's cost inside a real
 * request (cookie signature, body parsing, the session load before the handler, the save
 * after it), not a store call alone.
 *
 * For each system in turn, with nothing else of the bench running:
 * 1. Start its servers (redis-server, or the node(s); the cluster is measured once settled),
 *    and the shop in a process of its own (shop-process.ts), so that the web server does not
 *    share an event loop with the load generator.
 * 2. Make one session per autocannon connection: POST /login (a name; the shop regenerates the
 *    session and sets the cookie), then one POST /api/cart/add. Each connection then sends
 *    its own cookie, so the sessions never overlap and every request loads and saves one
 *    session of the same shape on either store.
 * 3. Warm up, then measure: each connection sends, in turn and one at a time, POST
 *    /api/cart/add {tea} and POST /api/cart/update {tea, 1}. Why the pair: the cart grows by
 *    one element per add, and a session that grows through the run would make a later system
 *    pay for a bigger session; setting the quantity back to one keeps it at one or two units
 *    for every system. Both requests change the session, so each is a load and a save.
 * 4. Check afterwards that the store holds exactly one session per connection (a cookie the
 *    shop did not accept would have made each of its requests a new session, and the figures
 *    would mean nothing), and that every session is still its user's, with one to three units
 *    of tea (a run may end between the two requests, or with one in flight).
 * 5. Stop the shop and the servers, by pid, also when a step fails.
 *
 * Figures: 2xx responses per second; p50/p99 of the 2xx responses' times as autocannon saw
 * them (recorded here in microseconds; autocannon's own percentiles are whole milliseconds);
 * errors, timeouts and non-2xx; and CPU per response of the shop, of the servers, and of the
 * load generator, which say which process limits the throughput on a two-core machine.
 */
import { loadavg } from 'node:os';
import { createHistogram } from 'node:perf_hooks';
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
import { spawnShopProcess, type ShopSessions } from './shop-process.js';
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
): Promise<LoadResult> {
  const histogram = createHistogram();
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

async function measureSystem(spec: HttpSystemSpec, settings: Settings): Promise<HttpSystemResult> {
  const closers: Closers = [];
  try {
    const servers = await spec.open(settings, closers);
    const shop = await spawnShopProcess(servers.sessions, settings.shopFlags);
    closers.push(() => shop.stop());
    progress(`http, ${spec.label}: shop ${shop.url} (pid ${shop.pid})`);
    const sessions = await createSessions(shop.url, settings.httpConnections);
    if (settings.httpWarmupSeconds > 0) {
      await runCartLoad(shop.url, sessions, settings.httpWarmupSeconds);
    }
    const loadAverage1m = loadavg()[0] ?? 0;
    const before = await Promise.all([shop.cpuMicros(), servers.serverCpuMicros()]);
    const ownBefore = ownCpuMicros();
    const load = await runCartLoad(shop.url, sessions, settings.httpSeconds);
    const ownCpu = ownCpuMicros() - ownBefore;
    const after = await Promise.all([shop.cpuMicros(), servers.serverCpuMicros()]);
    if (load.requests === 0) {
      throw new Error(
        `http, ${spec.label}: no 2xx response (${load.errors} errors, ` +
          `${load.timeouts} timeouts, ${load.non2xx} non-2xx)`,
      );
    }
    const stored = await servers.sessionCount();
    if (stored !== sessions.length) {
      throw new Error(
        `http, ${spec.label}: the store holds ${stored} sessions after the run, not the ` +
          `${sessions.length} made before it: some requests were not sent with their cookie`,
      );
    }
    await checkSessions(shop.url, sessions);
    const perRequest = (micros: number): number => micros / load.requests;
    const result: HttpSystemResult = {
      id: spec.id,
      label: spec.label,
      serverProcesses: servers.serverProcesses,
      requests: load.requests,
      seconds: load.seconds,
      requestsPerSec: load.requests / load.seconds,
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      maxMs: load.maxMs,
      autocannonLatencyMs: load.autocannonLatencyMs,
      errors: load.errors,
      timeouts: load.timeouts,
      non2xx: load.non2xx,
      shopCpuUsPerRequest: perRequest(after[0] - before[0]),
      serverCpuUsPerRequest: perRequest(after[1] - before[1]),
      loadGeneratorCpuUsPerRequest: perRequest(ownCpu),
      loadAverage1m,
    };
    const failed = load.errors + load.timeouts + load.non2xx;
    if (failed > 0) {
      progress(
        `  warning: ${load.errors} errors, ${load.timeouts} timeouts, ${load.non2xx} non-2xx`,
      );
    }
    progress(
      `  ${spec.label}: ${Math.round(result.requestsPerSec)} requests/s, ` +
        `p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms`,
    );
    return result;
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}

/**
 * Runs the HTTP section from start to end, one system at a time; each system's processes are
 * stopped before the next one starts, and before this returns or throws.
 */
export async function runHttpSection(settings: Settings): Promise<HttpReport> {
  const loadAtStart = loadavg()[0] ?? 0;
  const systems: HttpSystemResult[] = [];
  for (const spec of systemSpecs) systems.push(await measureSystem(spec, settings));
  return {
    loadAverage1m: loadAtStart,
    settings: {
      connections: settings.httpConnections,
      seconds: settings.httpSeconds,
      warmupSeconds: settings.httpWarmupSeconds,
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
