/**
 * `npm run chaos`: real node processes, clients under load, and a seeded schedule of faults;
 * then every acknowledged write is read back and the history is checked for linearizability.
 *
 *   npm run chaos                                  5 minutes, 5 nodes, a random seed
 *   npm run chaos -- --minutes 1 --seed 42         replay the schedule of seed 42 for a minute
 *   npm run chaos -- --nodes 3 --out /tmp/chaos    another cluster size, another report folder
 *
 * The network. Linux routes all of 127.0.0.0/8 to loopback, so node nK gets its own address
 * 127.0.0.(10+K). It listens there on a private port, dials its peers from that address
 * (`--local-address`) and advertises the address of a fault proxy in front of it
 * (`--advertise`, test/chaos/fault-proxy.ts). Every connection to a node, from a peer or a
 * client, goes through that node's proxy, which knows the caller by the connection's source
 * address (clients come from 127.0.0.1). Partitions are rules in the proxies: symmetric or
 * one-way, per node pair, holding bytes (a blackhole: TCP connections hang, bytes flow again
 * on heal) or dropping them (connections reset). No root and no iptables: CI may have neither.
 *
 * The run, as TigerBeetle's VOPR does it: one seed fixes the schedule (test/chaos/schedule.ts),
 * printed with a one-line replay; a safety phase of faults, each held for some seconds, healed,
 * then given time to converge; then a liveness phase: everything healed, and the cluster must
 * settle (every partition with a primary and its copies in sync) within two minutes.
 *
 * The load: eight callers overwrite registers of their own (half the calls are reads), with
 * every call recorded as Jepsen events, and four callers write keys of their own once each.
 * At the end: every acknowledged write is read back (test/helpers/load.ts verifyAcknowledged),
 * the register history is checked per key with the Wing-Gong-Lowe checker against the register
 * model (writes and reads of unknown outcome paired as such by pairOperations), and stale reads
 * are counted. After each kill or pause the time until every partition accepts a write again
 * is measured (partitionProbe), and for partitions too, where it can happen during the fault.
 *
 * Output: `OUT/latest.md` and `OUT/latest.json` (default OUT chaos-results), printed too;
 * `OUT/history.jsonl` and `OUT/nodes.log` (the last log lines of every node) for digging.
 * Exit 1 on a lost acknowledged write, a non-linearizable history or a stale read, or when the
 * cluster did not settle after the faults were healed; the seed to replay is printed.
 *
 * Every process started is stopped by its pid at the end, on an error, and on SIGINT/SIGTERM.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type Client, type ClusterStatusView } from '../src/client/index.js';
import { SeededRandom } from '../src/core/random.js';
import { FaultNet, FaultProxy, type Rule } from '../test/chaos/fault-proxy.js';
import {
  cutsFor,
  faultKinds,
  planFaults,
  staleReads,
  type FaultKind,
  type PlannedFault,
} from '../test/chaos/schedule.js';
import {
  WriteLoad,
  keyPerPartition,
  partitionProbe,
  quantile,
  longestAckGap,
  verifyAcknowledged,
  type LoadRecord,
  type Verification,
} from '../test/helpers/load.js';
import {
  NotSettledError,
  ProcessCluster,
  type ProcessNode,
} from '../test/helpers/process-cluster.js';
import { cliMain } from '../test/helpers/processes.js';
import {
  checkLinearizable,
  describeOperation,
  pairOperations,
  registerModel,
  toJsonLines,
} from '../test/sim/checker/index.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    seed: { type: 'string' },
    nodes: { type: 'string', default: '5' },
    partitions: { type: 'string', default: '64' },
    out: { type: 'string', default: 'chaos-results' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    'Usage: npm run chaos -- [--minutes M (5)] [--seed S] [--nodes N (5)] [--partitions P (64)] [--out DIR (chaos-results)]',
  );
  process.exit(0);
}
const minutes = Number(values.minutes);
const nodeCount = Number(values.nodes);
const partitions = Number(values.partitions);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${values.minutes}`);
if (!Number.isInteger(nodeCount) || nodeCount < 3 || nodeCount > 50)
  throw new Error(`--nodes must be an integer from 3 to 50, got ${values.nodes}`);
if (!Number.isInteger(partitions) || partitions < 1)
  throw new Error(`--partitions must be a positive integer, got ${values.partitions}`);
if (!Number.isSafeInteger(seed) || seed < 0)
  throw new Error(`--seed must be a non-negative integer, got ${values.seed}`);
const outDir = values.out;
const replay = `npm run chaos -- --seed ${seed} --minutes ${minutes} --nodes ${nodeCount} --partitions ${partitions}`;

/**
 * Settling after a fault may take this long before the run notes it and goes on: a restarted
 * node catches up by state transfer and placement rebalances, several seconds on a loaded
 * 2-core machine. The final settling gets twice as long, and failing it fails the run.
 */
const convergeTimeoutMs = 60_000;
const finalConvergeTimeoutMs = 120_000;
/** A join or drain that takes longer than this is recorded as stuck. */
const membershipTimeoutMs = 90_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The world: proxies, processes, clients. Everything here is stopped by cleanup().

const net = new FaultNet();
const proxies = new Map<string, FaultProxy>();
let cluster: ProcessCluster | null = null;
const loads: WriteLoad[] = [];
let probeClient: Client | null = null;
const helpers = new Set<ReturnType<typeof spawn>>();

/** nK's own loopback address; K stays below 245, the run joins a few nodes at most. */
const hostOf = (name: string): string => `127.0.0.${10 + Number(name.slice(1))}`;

async function freePortOn(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function placement(name: string) {
  const host = hostOf(name);
  net.register(host, name);
  // The proxy takes its port first, so the node's port cannot be handed to it too.
  const proxy = await FaultProxy.start({ net, node: name, host, target: { host, port: 9 } });
  const port = await freePortOn(host);
  proxy.retarget({ host, port });
  proxies.set(name, proxy);
  return { listen: `${host}:${port}`, advertise: proxy.address, args: ['--local-address', host] };
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    net.heal();
    for (const n of cluster?.alive() ?? []) n.child.kill('SIGCONT');
    for (const h of helpers) h.kill('SIGKILL');
    await Promise.allSettled(loads.map((l) => l.stop()));
    await probeClient?.close().catch(() => undefined);
    await cluster?.stop();
    await Promise.all([...proxies.values()].map((p) => p.close()));
  })();
  return cleaning;
}
const interrupted = (signal: string) => () => {
  console.error(`\n${signal}: stopping every process (seed ${seed}; replay: ${replay})`);
  void cleanup().finally(() => process.exit(130));
};
process.on('SIGINT', interrupted('SIGINT'));
process.on('SIGTERM', interrupted('SIGTERM'));
// The last resort if this process dies before cleanup: no node outlives the run.
process.on('exit', () => {
  for (const n of cluster?.nodes ?? []) if (n.child.exitCode === null) n.child.kill('SIGKILL');
  for (const h of helpers) if (h.exitCode === null) h.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// Faults

interface FaultResult {
  index: number;
  kind: FaultKind;
  /** ms since the run started. */
  startMs: number;
  holdMs: number;
  what: string;
  /** ms from the fault until every partition accepted a write, null when not within the hold. */
  writableAfterMs: number | null;
  /** ms from the heal until the cluster settled, null when it did not within the limit. */
  convergeMs: number | null;
  notes: string[];
}

async function statusNow(): Promise<ClusterStatusView> {
  for (const n of cluster!.alive()) {
    const s = await cluster!.status(n);
    if (s !== null && s.leader !== null) return s;
  }
  throw new Error('no live node reports a leader');
}

function nameOf(status: ClusterStatusView, memberId: string | null): string | null {
  const m = status.members.find((x) => x.id === memberId);
  return m === undefined ? null : cluster!.byAddress(m.address).name;
}

function liveNode(name: string): ProcessNode {
  const node = cluster!.alive().find((n) => n.name === name);
  if (node === undefined) throw new Error(`${name} is not running`);
  return node;
}

function pick<T>(items: readonly T[], random: SeededRandom): T {
  if (items.length === 0) throw new Error('nothing to pick from');
  return items[random.int(items.length)]!;
}

/** Runs the probe from `since` for `ms`; resolves with the time all partitions took writes. */
async function probeFor(
  since: number,
  ms: number,
  notes: string[],
  keys: readonly string[],
): Promise<number | null> {
  try {
    const r = await partitionProbe(probeClient!, keys, since, {
      timeoutMs: ms,
      callTimeoutMs: 500,
    });
    return r.allMs;
  } catch (error) {
    notes.push((error as Error).message);
    return null;
  }
}

async function waitExit(node: ProcessNode, ms: number): Promise<boolean> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return true;
  const timer = sleep(ms).then(() => false);
  return Promise.race([once(node.child, 'exit').then(() => true), timer]);
}

async function drainByCommand(name: string, notes: string[]): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', cliMain, 'drain', name, '--seeds', cluster!.seeds().join(',')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  helpers.add(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  helpers.delete(child);
  if (code !== 0) notes.push(`statehouse drain exited ${code}: ${output.trim().slice(0, 300)}`);
}

async function runFault(
  fault: PlannedFault,
  state: { members: number; nextName: number; runStart: number },
  random: SeededRandom,
  keys: readonly string[],
): Promise<FaultResult> {
  const c = cluster!;
  const status = await statusNow();
  const leader = nameOf(status, status.leader);
  const active = status.members.filter((m) => m.state === 'active');
  const names = active.map((m) => c.byAddress(m.address).name);
  const withPrimaries = active
    .filter((m) => m.primaries > 0)
    .map((m) => c.byAddress(m.address).name);
  let kind = fault.kind;
  // Membership stays within one node of the start: a drain at the floor becomes a join, a
  // join at the ceiling a drain, so the run neither shrinks below a majority nor grows on.
  if (kind === 'drain' && state.members <= nodeCount - 1) kind = 'join';
  else if (kind === 'join' && state.members >= nodeCount + 1) kind = 'drain';
  const result: FaultResult = {
    index: fault.index,
    kind,
    startMs: Date.now() - state.runStart,
    holdMs: fault.holdMs,
    what: '',
    writableAfterMs: null,
    convergeMs: null,
    notes: [],
  };
  const notes = result.notes;
  const at = Date.now();
  switch (kind) {
    case 'kill':
    case 'kill-leader': {
      const victimName =
        kind === 'kill-leader'
          ? (leader ?? pick(names, random))
          : pick(
              withPrimaries.filter((n) => n !== leader).length > 0
                ? withPrimaries.filter((n) => n !== leader)
                : names.filter((n) => n !== leader),
              random,
            );
      const victim = liveNode(victimName);
      result.what = `SIGKILL ${victimName}${victimName === leader ? ' (Raft leader)' : ''}, restart on its data dir after ${fault.holdMs} ms`;
      const killedAt = await c.kill(victim);
      result.writableAfterMs = await probeFor(killedAt, fault.holdMs, notes, keys);
      await sleep(Math.max(0, killedAt + fault.holdMs - Date.now()));
      try {
        await c.restart(victim);
      } catch (error) {
        notes.push(`restart failed: ${(error as Error).message.slice(0, 300)}`);
        state.members--;
      }
      break;
    }
    case 'pause': {
      const victimName = pick(withPrimaries.length > 0 ? withPrimaries : names, random);
      const victim = liveNode(victimName);
      result.what = `SIGSTOP ${victimName}${victimName === leader ? ' (Raft leader)' : ''} for ${fault.holdMs} ms, then SIGCONT`;
      c.signal(victim, 'SIGSTOP');
      result.writableAfterMs = await probeFor(at, fault.holdMs, notes, keys);
      await sleep(Math.max(0, at + fault.holdMs - Date.now()));
      c.signal(victim, 'SIGCONT');
      break;
    }
    case 'partition-minority':
    case 'partition-leader-in-minority':
    case 'isolate-leader':
    case 'one-way':
    case 'bridge':
    case 'client-cut': {
      const target =
        kind === 'one-way'
          ? random.next() < 0.5 && leader !== null
            ? leader
            : pick(names, random)
          : pick(withPrimaries.length > 0 ? withPrimaries : names, random);
      const { cuts, describe } = cutsFor(fault, names, leader, target, random);
      const rule: Rule = { kind: fault.mode };
      for (const cut of cuts) {
        if (cut.oneWay) net.cutOneWay(cut.from, cut.to, rule);
        else net.cut(cut.from, cut.to, rule);
      }
      result.what = `${describe}, ${fault.mode} bytes, ${fault.holdMs} ms (leader ${leader})`;
      // Which side can lead is a matter of where the voters are, not of how many nodes each
      // side has: a node minority may hold the voters' majority (seed 1873535010, fault 8).
      const split = cuts.length === 1 && !cuts[0]!.oneWay ? cuts[0]! : null;
      if (split !== null && kind !== 'client-cut') {
        const voters = status.members
          .filter((m) => m.role === 'voter')
          .map((m) => c.byAddress(m.address).name);
        const on = (side: readonly string[]) => voters.filter((v) => side.includes(v));
        result.what += `; voters {${on(split.from).join(',')}} | {${on(split.to).join(',')}}`;
      }
      // The load's clients route to primaries themselves (no `forward`), so the partitions
      // the cut node leads stay out of their reach until the heal: expected, not a failover.
      if (kind === 'client-cut') result.what += '; its partitions are expected out of reach';
      result.writableAfterMs = await probeFor(at, fault.holdMs, notes, keys);
      await sleep(Math.max(0, at + fault.holdMs - Date.now()));
      net.heal();
      break;
    }
    case 'join': {
      const name = `n${state.nextName++}`;
      result.what = `${name} joins`;
      try {
        await c.spawn(name);
        state.members++;
      } catch (error) {
        notes.push(`join failed: ${(error as Error).message.slice(0, 300)}`);
      }
      break;
    }
    case 'drain': {
      const victimName = pick(names, random);
      const victim = liveNode(victimName);
      result.what = `drain ${victimName}${victimName === leader ? ' (Raft leader)' : ''} by ${fault.drainBy === 'command' ? '`statehouse drain`' : 'SIGTERM'}`;
      if (fault.drainBy === 'command') await drainByCommand(victimName, notes);
      else c.signal(victim, 'SIGTERM');
      if (await waitExit(victim, membershipTimeoutMs)) state.members--;
      else notes.push(`still running ${membershipTimeoutMs} ms after the drain began`);
      result.holdMs = Date.now() - at;
      break;
    }
  }
  const healedAt = Date.now();
  try {
    await c.settled(state.members, convergeTimeoutMs);
    result.convergeMs = Date.now() - healedAt;
  } catch (error) {
    notes.push(`did not settle within ${convergeTimeoutMs} ms of the heal (${lastSeen(error)})`);
  }
  return result;
}

/** What `ProcessCluster.settled` last saw when it gave up, or the error's own message. */
function lastSeen(error: unknown): string {
  return error instanceof NotSettledError ? error.reason : String(error);
}

// ---------------------------------------------------------------------------------------------
// The run

interface Report {
  seed: number;
  replay: string;
  startedAt: string;
  minutes: number;
  nodes: number;
  partitions: number;
  machine: { cpus: number; loadAverage1m: { start: number; mean: number; max: number } };
  operations: {
    registers: LoadSummary;
    unique: LoadSummary;
    historyEvents: number;
    checkedOperations: number;
    keys: number;
  };
  faults: FaultResult[];
  faultsByKind: Record<string, number>;
  lostAcknowledgedWrites: number;
  unreadableAcknowledgedWrites: number;
  staleReads: number;
  linearizable: { ok: boolean; violations: string[]; unknownKeys: number };
  failoverMs: { samples: number; p50: number | null; p99: number | null; max: number | null };
  writableAfterByKind: Record<string, (number | null)[]>;
  finalSettleMs: number | null;
  clientErrors: Record<string, { count: number; inDoubt: number; example: string }>;
  verdict: 'pass' | 'fail';
  failures: string[];
}

interface LoadSummary {
  callers: number;
  writesAttempted: number;
  writesAcknowledged: number;
  readsAttempted: number;
  readsOk: number;
  longestAckGapMs: number;
  verification: { checked: number; lost: number; unreadable: number; inDoubtApplied: number };
}

function summarize(callers: number, r: LoadRecord, v: Verification): LoadSummary {
  return {
    callers,
    writesAttempted: r.writes.attempted,
    writesAcknowledged: r.writes.acknowledged,
    readsAttempted: r.reads.attempted,
    readsOk: r.reads.ok,
    longestAckGapMs: longestAckGap(r),
    verification: {
      checked: v.checked,
      lost: v.lost.length,
      unreadable: v.unreadable.length,
      inDoubtApplied: v.inDoubtApplied,
    },
  };
}

async function run(): Promise<Report> {
  const startedAt = new Date();
  const loadSamples: number[] = [loadavg()[0]!];
  mkdirSync(outDir, { recursive: true });
  console.log(
    `chaos: seed ${seed}, ${minutes} min, ${nodeCount} nodes, ${partitions} partitions, load average ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores\n  replay: ${replay}`,
  );
  cluster = await ProcessCluster.start({
    size: nodeCount,
    args: ['--partitions', String(partitions)],
    placement,
  });
  await cluster.settled(nodeCount);
  const seeds = cluster.seeds();
  probeClient = await connect({ seeds, timeoutMs: 5_000, name: 'chaos-probe' });
  const keys = keyPerPartition(probeClient.limits.partitionCount, 'chaos-probe');
  const registerCallers = 8;
  const uniqueCallers = 4;
  const registers = await WriteLoad.start({
    seeds,
    callers: registerCallers,
    mode: 'registers',
    keysPerCaller: 4,
    readShare: 0.5,
    rotateKeysEvery: 200,
    history: true,
    prefix: 'reg',
  });
  loads.push(registers);
  const unique = await WriteLoad.start({ seeds, callers: uniqueCallers, prefix: 'uniq' });
  loads.push(unique);
  await registers.acknowledgedMore(100);

  const runStart = Date.now();
  const deadline = runStart + minutes * 60_000;
  const random = new SeededRandom(seed ^ 0x5bd1e995);
  const state = { members: nodeCount, nextName: nodeCount + 1, runStart };
  const faults: FaultResult[] = [];
  for (const fault of planFaults(seed, 10_000)) {
    if (Date.now() >= deadline) break;
    const r = await runFault(fault, state, random, keys);
    faults.push(r);
    loadSamples.push(loadavg()[0]!);
    console.log(
      `[${(r.startMs / 1000).toFixed(0)}s] #${r.index} ${r.kind}: ${r.what}; writable after ${r.writableAfterMs ?? '-'} ms; settled ${r.convergeMs ?? '-'} ms after${r.notes.length > 0 ? `; ${r.notes.join('; ')}` : ''}`,
    );
  }

  // Liveness: everything healed, the cluster must settle.
  net.heal();
  const healedAt = Date.now();
  let finalSettleMs: number | null = null;
  let finalUnsettled = '';
  try {
    await cluster.settled(state.members, finalConvergeTimeoutMs);
    finalSettleMs = Date.now() - healedAt;
  } catch (error) {
    finalSettleMs = null;
    finalUnsettled = lastSeen(error);
  }
  await sleep(2_000);
  const registerRecord = await registers.stop();
  const uniqueRecord = await unique.stop();
  loads.length = 0;
  loadSamples.push(loadavg()[0]!);

  const liveSeeds = cluster.seeds();
  const [vReg, vUniq] = [
    await verifyAcknowledged(liveSeeds, registerRecord),
    await verifyAcknowledged(liveSeeds, uniqueRecord),
  ];
  const operations = pairOperations(registerRecord.events);
  const check = checkLinearizable(operations, registerModel);
  const stale = staleReads(operations);
  writeFileSync(join(outDir, 'history.jsonl'), toJsonLines(registerRecord.events));
  writeFileSync(join(outDir, 'nodes.log'), cluster.logs(400));

  const failovers = faults
    .filter((f) => f.kind === 'kill' || f.kind === 'kill-leader' || f.kind === 'pause')
    .map((f) => f.writableAfterMs)
    .filter((ms): ms is number => ms !== null);
  const faultsByKind: Record<string, number> = {};
  const writableAfterByKind: Record<string, (number | null)[]> = {};
  for (const f of faults) {
    faultsByKind[f.kind] = (faultsByKind[f.kind] ?? 0) + 1;
    if (f.kind !== 'join' && f.kind !== 'drain')
      (writableAfterByKind[f.kind] ??= []).push(f.writableAfterMs);
  }
  const clientErrors: Report['clientErrors'] = {};
  for (const record of [registerRecord, uniqueRecord]) {
    for (const [code, t] of record.errors) {
      const e = (clientErrors[code] ??= { count: 0, inDoubt: 0, example: t.example });
      e.count += t.count;
      e.inDoubt += t.inDoubt;
    }
  }
  const lost = vReg.lost.length + vUniq.lost.length;
  const failures = [
    ...(lost > 0
      ? [
          `${lost} acknowledged writes lost: ${JSON.stringify([...vReg.lost, ...vUniq.lost].slice(0, 5))}`,
        ]
      : []),
    ...(check.violations.length > 0
      ? [`${check.violations.length} keys not linearizable: ${check.violations[0]!.description}`]
      : []),
    ...(stale.length > 0
      ? [`${stale.length} stale reads, first: ${describeOperation(stale[0]!)}`]
      : []),
    ...(finalSettleMs === null
      ? [
          `the cluster did not settle within ${finalConvergeTimeoutMs} ms after the last heal (${finalUnsettled})`,
        ]
      : []),
  ];
  const mean = loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length;
  return {
    seed,
    replay,
    startedAt: startedAt.toISOString(),
    minutes,
    nodes: nodeCount,
    partitions,
    machine: {
      cpus: cpus().length,
      loadAverage1m: {
        start: round2(loadSamples[0]!),
        mean: round2(mean),
        max: round2(Math.max(...loadSamples)),
      },
    },
    operations: {
      registers: summarize(registerCallers, registerRecord, vReg),
      unique: summarize(uniqueCallers, uniqueRecord, vUniq),
      historyEvents: registerRecord.events.length,
      checkedOperations: check.operations,
      keys: check.keys,
    },
    faults,
    faultsByKind,
    lostAcknowledgedWrites: lost,
    unreadableAcknowledgedWrites: vReg.unreadable.length + vUniq.unreadable.length,
    staleReads: stale.length,
    linearizable: {
      ok: check.violations.length === 0,
      violations: check.violations
        .slice(0, 5)
        .map(
          (v) =>
            `${v.description} The register held ${v.stateAfterPrefix} after ${v.longestPrefix.length} operations; ` +
            `then: ${describeOperation(v.operation)}`,
        ),
      unknownKeys: check.unknownKeys.length,
    },
    failoverMs: {
      samples: failovers.length,
      p50: failovers.length > 0 ? quantile(failovers, 0.5) : null,
      p99: failovers.length > 0 ? quantile(failovers, 0.99) : null,
      max: failovers.length > 0 ? Math.max(...failovers) : null,
    },
    writableAfterByKind,
    finalSettleMs,
    clientErrors,
    verdict: failures.length === 0 ? 'pass' : 'fail',
    failures,
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function markdown(r: Report): string {
  const o = r.operations;
  const load = (name: string, l: LoadSummary): string =>
    `| ${name} | ${l.callers} | ${l.writesAttempted} | ${l.writesAcknowledged} | ${l.readsAttempted} | ${l.readsOk} | ${l.verification.checked} | ${l.verification.lost} | ${l.verification.unreadable} | ${l.longestAckGapMs} |`;
  const ms = (x: number | null): string => (x === null ? '-' : String(x));
  return [
    `# Chaos run ${r.startedAt}`,
    '',
    `**Verdict: ${r.verdict.toUpperCase()}**${r.failures.length > 0 ? `: ${r.failures.join('; ')}` : ''}`,
    '',
    `Seed ${r.seed}; replay: \`${r.replay}\`. ${r.nodes} node processes (default timing), ${r.partitions} partitions, ` +
      `RF 2, sync writes, every connection through a fault proxy. ${r.machine.cpus} cores; load average (1 min) ` +
      `${r.machine.loadAverage1m.start} at the start, mean ${r.machine.loadAverage1m.mean}, max ${r.machine.loadAverage1m.max} (other work shares the machine).`,
    '',
    '## Figures',
    '',
    `- Operations: ${o.registers.writesAttempted + o.unique.writesAttempted} writes (${o.registers.writesAcknowledged + o.unique.writesAcknowledged} acknowledged), ${o.registers.readsAttempted} reads (${o.registers.readsOk} answered); ${o.historyEvents} history events, ${o.checkedOperations} operations on ${o.keys} keys checked.`,
    `- Faults: ${r.faults.length} (${Object.entries(r.faultsByKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}).`,
    `- Acknowledged writes lost: **${r.lostAcknowledgedWrites}** (unreadable at the end: ${r.unreadableAcknowledgedWrites}).`,
    `- Linearizable (WGL, register model per key): **${r.linearizable.ok ? 'yes' : 'no'}**${r.linearizable.unknownKeys > 0 ? ` (${r.linearizable.unknownKeys} keys past the search budget, not judged)` : ''}.`,
    `- Stale reads: **${r.staleReads}**.`,
    `- Failover (SIGKILL or SIGSTOP until every partition accepts a write), ${r.failoverMs.samples} samples: p50 ${ms(r.failoverMs.p50)} ms, p99 ${ms(r.failoverMs.p99)} ms, max ${ms(r.failoverMs.max)} ms (with fewer than 100 samples p99 is the largest).`,
    `- Settled after the last heal in ${ms(r.finalSettleMs)} ms.`,
    `- Errors seen by clients: ${
      Object.keys(r.clientErrors).length === 0
        ? 'none'
        : Object.entries(r.clientErrors)
            .sort(([, a], [, b]) => b.count - a.count)
            .map(
              ([code, e]) => `${code} ${e.count}${e.inDoubt > 0 ? ` (${e.inDoubt} in doubt)` : ''}`,
            )
            .join(', ')
    }.`,
    '',
    '## Load',
    '',
    '| load | callers | writes | acknowledged | reads | answered | verified | lost | unreadable | longest stall ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    load('registers (history)', o.registers),
    load('unique keys', o.unique),
    '',
    '## Faults',
    '',
    'Writable after: from the fault until every partition accepted a write (- : not during the fault). Settled: from the heal until every partition had a primary and its copies in sync, balanced.',
    '',
    '| # | at s | kind | what | writable after ms | settled ms | notes |',
    '| ---: | ---: | --- | --- | ---: | ---: | --- |',
    ...r.faults.map(
      (f) =>
        `| ${f.index} | ${(f.startMs / 1000).toFixed(0)} | ${f.kind} | ${f.what} | ${ms(f.writableAfterMs)} | ${ms(f.convergeMs)} | ${f.notes.join('; ').replace(/\|/g, '/')} |`,
    ),
    '',
    '## Errors seen by clients',
    '',
    '| code | count | in doubt | example |',
    '| --- | ---: | ---: | --- |',
    ...Object.entries(r.clientErrors)
      .sort(([, a], [, b]) => b.count - a.count)
      .map(
        ([code, e]) =>
          `| ${code} | ${e.count} | ${e.inDoubt} | ${e.example.replace(/\|/g, '/').slice(0, 160)} |`,
      ),
    ...(r.linearizable.violations.length > 0
      ? ['', '## Violations', '', ...r.linearizable.violations.map((v) => `- ${v}`)]
      : []),
    '',
    `Fault kinds in the schedule: ${faultKinds.join(', ')}.`,
    '',
  ].join('\n');
}

let exitCode = 1;
try {
  const report = await run();
  const text = markdown(report);
  writeFileSync(join(outDir, 'latest.md'), text);
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${text}`);
  console.log(`report: ${join(outDir, 'latest.md')}; seed ${seed}; replay: ${replay}`);
  exitCode = report.verdict === 'pass' ? 0 : 1;
} catch (error) {
  console.error(`chaos run failed: ${(error as Error).stack ?? String(error)}`);
  // Assigned inside run(), which the compiler's narrowing does not follow.
  const started = cluster as ProcessCluster | null;
  if (started !== null) console.error(started.logs(40));
  console.error(`seed ${seed}; replay: ${replay}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
