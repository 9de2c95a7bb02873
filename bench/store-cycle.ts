/**
 * `npm run bench:store`: what one session's load and save cost the web server, per store.
 *
 * The HTTP section (http.ts) measures the whole shop, where the store is one part among
 * Express, body parsing, cookies and express-session itself. This measures the part the
 * store adds to the web server's CPU: callers that each run, in a loop, what express-session
 * does for one request that changes its session: the store's `get`, `createSession`, a change
 * to the cart (one unit added, or the added unit removed), the Session touched as
 * express-session does at the end of every response, and the store's `set`. The web
 * server's own work is either left out (`pipelined`: every caller's calls share the
 * connection's writes, the cheapest case for both) or stood in for by 150 µs of busy CPU
 * after the load and after the save (`spaced`: calls arrive one at a time, as in a busy web
 * server, so each pays its own writes and wake-ups).
 *
 * Stores: Statehouse's express-session store as it ships (dist/, one node in a process of its
 * own, one client), and connect-redis with one node-redis client to a redis-server. Each
 * measurement runs in a fresh process holding that store's client and nothing else, so one
 * store's idle client does not weigh on the other's garbage collection (bench/README.md).
 * Rounds alternate between the stores; the web server's figure is the CPU of that process
 * (user + system) per cycle, minus the stand-in's busy time, and the server's is the CPU of
 * the node's or redis-server's process over the same timed phase (from /proc, so Linux
 * only). Both matter: where the web servers and the store share a machine's cores, as in
 * the HTTP section, requests per second follow what all of them spend per request. Prints a
 * markdown table.
 *
 * Flags: --rounds N (per store and regime, default 3), --seconds S (per round, default 3),
 * --concurrency C (callers, default 64).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { loadClient, loadExpressStore } from './built.js';
import { spawnNodeProcess } from './node-process.js';
import { ipcChild, spawnTracked, stopAll, stopChild } from './processes.js';
import { processCpuMicros } from './proc-stat.js';
import {
  changeCart,
  load,
  median,
  save,
  signedInSession,
  type SessionStore,
} from './session-cycle.js';
import { startRedis } from './redis-server.js';

type StoreKind = 'statehouse' | 'redis';
type Regime = 'pipelined' | 'spaced';

interface ChildSpec {
  readonly store: StoreKind;
  readonly regime: Regime;
  /** The node's address, or redis-server's port. */
  readonly target: string;
  /** The server's process, whose CPU over the timed phase counts as the server's. */
  readonly serverPid: number;
  readonly seconds: number;
  readonly concurrency: number;
}

interface RoundResult {
  readonly cycles: number;
  readonly seconds: number;
  /** CPU per cycle in µs, the stand-in's busy time taken out. */
  readonly cpuUsPerCycle: number;
  /** The server's CPU per cycle in µs over the same phase. */
  readonly serverCpuUsPerCycle: number;
}

type FromChild = { type: 'result'; result: RoundResult };

/** The web server's own work per load and per save in the `spaced` regime. */
const standInUs = 150;
const thisFile = fileURLToPath(import.meta.url);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

function busyFor(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}

/** One request's worth: load, make the Session, change the cart, save. */
async function cycle(
  store: SessionStore,
  sid: string,
  add: boolean,
  spaced: boolean,
): Promise<void> {
  const data = await load(store, sid);
  if (data === null || data === undefined) throw new Error(`session ${sid} is gone`);
  if (spaced) busyFor(standInUs);
  await changeCart(store, sid, data, (cart) =>
    add ? [...cart, `tea:${randomBytes(6).toString('base64url')}`] : cart.slice(0, 1),
  );
  if (spaced) busyFor(standInUs);
}

async function openStore(
  spec: ChildSpec,
): Promise<{ store: SessionStore; close(): Promise<void> }> {
  if (spec.store === 'statehouse') {
    const [{ connect }, { createExpressStore }] = await Promise.all([
      loadClient(),
      loadExpressStore(),
    ]);
    const client = await connect({ seeds: [spec.target], name: 'store-cycle' });
    const store = createExpressStore(session, { client, prefix: 'shop:' });
    return {
      store: store as unknown as SessionStore,
      close: async () => {
        store.close();
        await client.close();
      },
    };
  }
  const redis = createClient({ url: `redis://127.0.0.1:${spec.target}` });
  redis.on('error', () => undefined);
  await redis.connect();
  const store = new RedisStore({ client: redis, prefix: 'shop:' });
  return { store: store as unknown as SessionStore, close: async () => void redis.destroy() };
}

/** Every caller repeats the cycle on its own session for `seconds`; the cycles and CPU spent. */
async function runFor(
  store: SessionStore,
  sids: readonly string[],
  spaced: boolean,
  seconds: number,
): Promise<{ cycles: number; elapsed: number; cpuUs: number }> {
  let cycles = 0;
  let stopped = false;
  const timer = setTimeout(() => (stopped = true), seconds * 1000);
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  await Promise.all(
    sids.map(async (sid) => {
      for (let add = true; !stopped; add = !add) {
        await cycle(store, sid, add, spaced);
        cycles++;
      }
    }),
  );
  clearTimeout(timer);
  const cpu = process.cpuUsage(cpuBefore);
  return { cycles, elapsed: (performance.now() - startedAt) / 1000, cpuUs: cpu.user + cpu.system };
}

async function runChild(spec: ChildSpec): Promise<RoundResult> {
  const { store, close } = await openStore(spec);
  try {
    const sids = Array.from({ length: spec.concurrency }, () => randomBytes(16).toString('hex'));
    for (const sid of sids) await save(store, sid, signedInSession());
    const spaced = spec.regime === 'spaced';
    await runFor(store, sids, spaced, 1); // warm-up, untimed
    const serverBefore = processCpuMicros(spec.serverPid);
    const { cycles, elapsed, cpuUs } = await runFor(store, sids, spaced, spec.seconds);
    const serverUs = processCpuMicros(spec.serverPid) - serverBefore;
    const busy = spaced ? 2 * standInUs : 0;
    return {
      cycles,
      seconds: elapsed,
      cpuUsPerCycle: cpuUs / cycles - busy,
      serverCpuUsPerCycle: serverUs / cycles,
    };
  } finally {
    await close();
  }
}

async function measureInChild(spec: ChildSpec): Promise<RoundResult> {
  const child = spawnTracked(
    process.execPath,
    ['--import', 'tsx', thisFile, '--child', JSON.stringify(spec)],
    { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const ipc = ipcChild<FromChild, never>(child, 'store-cycle process');
  try {
    const { result } = await ipc.next('result', (spec.seconds + 30) * 1000);
    return result;
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '64' },
      child: { type: 'string' },
    },
  });
  if (values.child !== undefined) {
    const result = await runChild(JSON.parse(values.child) as ChildSpec);
    process.send!({ type: 'result', result } satisfies FromChild);
    return;
  }
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  for (const [name, n] of Object.entries({ rounds, seconds, concurrency })) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  }
  try {
    const node = await spawnNodeProcess([], { replicationFactor: 1 });
    const redis = await startRedis();
    const targets: Record<StoreKind, { target: string; serverPid: number }> = {
      statehouse: { target: node.address, serverPid: node.pid },
      redis: { target: String(redis.port), serverPid: redis.pid },
    };
    const rows: string[] = [];
    for (const regime of ['pipelined', 'spaced'] as const) {
      const cpu: Record<StoreKind, number[]> = { statehouse: [], redis: [] };
      const serverCpu: Record<StoreKind, number[]> = { statehouse: [], redis: [] };
      const rate: Record<StoreKind, number[]> = { statehouse: [], redis: [] };
      for (let round = 0; round < rounds; round++) {
        for (const store of ['statehouse', 'redis'] as const) {
          const result = await measureInChild({
            store,
            regime,
            ...targets[store],
            seconds,
            concurrency,
          });
          cpu[store].push(result.cpuUsPerCycle);
          serverCpu[store].push(result.serverCpuUsPerCycle);
          rate[store].push(result.cycles / result.seconds);
          console.error(
            `${regime} ${store}: ${Math.round(result.cycles / result.seconds)} cycles/s, web server ${result.cpuUsPerCycle.toFixed(1)} µs/cycle, server ${result.serverCpuUsPerCycle.toFixed(1)} µs/cycle`,
          );
        }
      }
      // Both together per round, then the median: the two are measured over the same phase.
      const both = (store: StoreKind): number =>
        median(cpu[store].map((c, i) => c + serverCpu[store][i]!));
      const ratio = (of: (store: StoreKind) => number): string =>
        `${(of('statehouse') / of('redis')).toFixed(2)}x`;
      for (const store of ['statehouse', 'redis'] as const) {
        const mine = store === 'statehouse';
        rows.push(
          `| ${regime} | ${mine ? 'Statehouse' : 'connect-redis'} | ${Math.round(median(rate[store])).toLocaleString('en-US')} | ${median(cpu[store]).toFixed(1)} | ${median(serverCpu[store]).toFixed(1)} | ${both(store).toFixed(1)} | ${mine ? ratio((s) => median(cpu[s])) : ''} | ${mine ? ratio(both) : ''} |`,
        );
      }
    }
    await node.stop();
    await redis.stop();
    console.log(
      [
        `Store cycle (load, change, save) with ${concurrency} callers, ${rounds} rounds of ${seconds} s per store and regime (medians):`,
        '',
        '| regime | store | cycles/s | web server CPU µs/cycle | server CPU µs/cycle | both | web server vs connect-redis | both vs connect-redis |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...rows,
      ].join('\n'),
    );
  } finally {
    await stopAll();
  }
}

await main();
