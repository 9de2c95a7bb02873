/**
 * The load generator of one system under test, in a process of its own: the system's client
 * (Statehouse's, or ioredis connections) and its closed-loop callers, and nothing else.
 *
 * Why a process per system: the bench keeps every system open at once and alternates their
 * phases, so that the machine's drift falls on all of them alike. With every client in the
 * bench's own process, each system's phases ran beside the others' idle clients, and those
 * were not free: with the 64 idle ioredis connections of the Redis pool in the process, V8
 * promoted much more of the measured client's short-lived objects and collected the old
 * generation every few seconds, and every client spent more CPU per call. An application has
 * one client per process; so does each system here.
 *
 * Both ends of the conversation are in this file. The bench calls `spawnLoadProcess()`,
 * which runs this file as `node --import tsx bench/load-process.ts SPEC`, SPEC a LoadSpec
 * as JSON; the child connects and talks over the IPC channel:
 *   child -> { type: 'ready' }                        once connected;
 *   bench -> { type: 'run', phase, seconds, seed }    child -> { type: 'ran', result }: one
 *                                                     phase of closed-loop calls (workload.ts);
 *   bench -> { type: 'stop' }                         the child closes its connections, exits.
 * The child also exits when the channel closes: a crashed bench leaves no child behind.
 */
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { loadClient } from './built.js';
import {
  benchKey,
  benchValue,
  connectRedis,
  missing,
  redisSet,
  progress,
  statehouseTarget,
  type Closers,
  type Doc,
  type RedisWait,
  type Target,
} from './harness.js';
import type { PhaseName } from './report.js';
import { ipcChild, spawnTracked } from './processes.js';
import { runPhase, type Operation, type PhaseResult } from './workload.js';

export type LoadSystem =
  | {
      readonly kind: 'statehouse';
      readonly seeds: readonly string[];
      readonly durability: 'sync' | 'async';
    }
  | {
      readonly kind: 'redis';
      readonly port: number;
      /** One auto-pipelined connection (0), or a pool of this many, one per caller. */
      readonly poolConnections: number;
      readonly wait?: RedisWait;
    };

export interface LoadSpec {
  readonly system: LoadSystem;
  /** Keys `key:0` to `key:keys-1`, as the bench preloaded them. */
  readonly keys: number;
  readonly valueBytes: number;
  readonly concurrency: number;
}

export interface LoadProcess {
  readonly pid: number;
  /** Runs one phase of closed-loop calls in the child; resolves with its figures. */
  run(phase: PhaseName, seconds: number, seed: number): Promise<PhaseResult>;
  stop(): Promise<void>;
}

type FromChild = { type: 'ready' } | { type: 'ran'; result: PhaseResult };
type ToChild = { type: 'run'; phase: PhaseName; seconds: number; seed: number } | { type: 'stop' };

const startTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;
/** A phase's seconds, plus this for the last calls to end and the figures to arrive. */
const phaseSlackMs = 30_000;
/** The share of sets in the mixed phase: a session is read on most requests, saved on some. */
const mixSetShare = 0.1;
const thisFile = fileURLToPath(import.meta.url);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export async function spawnLoadProcess(spec: LoadSpec): Promise<LoadProcess> {
  const child = spawnTracked(
    process.execPath,
    ['--import', 'tsx', thisFile, JSON.stringify(spec)],
    { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const ipc = ipcChild<FromChild, ToChild>(child, 'load process');
  const { system } = spec;
  const what =
    system.kind === 'statehouse'
      ? `statehouse (${system.seeds.length} node${system.seeds.length === 1 ? '' : 's'})`
      : `redis port ${system.port}, ${system.poolConnections === 0 ? 'auto-pipelined' : `pool of ${system.poolConnections}`}`;
  // Reported at once, not after 'ready': an interrupted start leaves a pid to check too.
  progress(`load process for ${what}: pid ${ipc.pid}`);
  await ipc.next('ready', startTimeoutMs);
  return {
    pid: ipc.pid,
    async run(phase, seconds, seed) {
      const ran = ipc.next('ran', seconds * 1000 + phaseSlackMs);
      ipc.send({ type: 'run', phase, seconds, seed });
      return (await ran).result;
    },
    stop: () => ipc.stop({ type: 'stop' }, stopTimeoutMs),
  };
}

/** The child: connects, then runs phases until told to stop. */
async function serve(spec: LoadSpec): Promise<void> {
  // First of all: a bench that dies while this child still connects must not leave it behind
  // (ioredis would reconnect to a left-over server for ever). Exiting closes the sockets.
  process.on('disconnect', () => process.exit(0));
  const { target, close } = await openTarget(spec);
  const value = benchValue(spec.valueBytes);
  const pick = (random: { below(n: number): number }): number => random.below(spec.keys);
  const get: Operation = (caller, random) => target.get(caller, benchKey(pick(random)));
  const set: Operation = (caller, random) => {
    const i = pick(random);
    return target.set(caller, benchKey(i), value(i));
  };
  const operations: Record<PhaseName, Operation> = {
    get,
    set,
    mix: (caller, random) =>
      random.next() < mixSetShare ? set(caller, random) : get(caller, random),
  };
  const send = (message: FromChild): void => {
    process.send?.(message);
  };
  process.on('message', (message: ToChild) => {
    if (message.type === 'stop') {
      void close().finally(() => process.exit(0));
      return;
    }
    void runPhase(operations[message.phase], {
      concurrency: spec.concurrency,
      seconds: message.seconds,
      seed: message.seed,
    }).then((result) => send({ type: 'ran', result }));
  });
  send({ type: 'ready' });
}

async function openTarget(spec: LoadSpec): Promise<{ target: Target; close(): Promise<void> }> {
  const { system } = spec;
  if (system.kind === 'statehouse') {
    const { connect } = await loadClient();
    const client = await connect({
      seeds: [...system.seeds],
      name: 'bench-load',
      durability: system.durability,
    });
    return { target: statehouseTarget(client), close: () => client.close() };
  }
  // Opened as the bench opens its own (harness.ts), so the compared settings cannot drift.
  const closers: Closers = [];
  const connections = await Promise.all(
    Array.from({ length: Math.max(1, system.poolConnections) }, () =>
      connectRedis(system.port, { enableAutoPipelining: system.poolConnections === 0 }, closers),
    ),
  );
  const { wait } = system;
  const pick = (caller: number): Redis => connections[caller % connections.length]!;
  const target: Target = {
    get: async (caller, key) => {
      const text = await pick(caller).get(key);
      if (text === null) throw missing(key);
      return JSON.parse(text) as Doc;
    },
    set: (caller, key, value) => redisSet(pick(caller), key, value, wait),
  };
  return {
    target,
    close: async () => {
      for (const closer of closers) await closer();
    },
  };
}

if (process.argv[1] === thisFile && process.argv[2] !== undefined) {
  await serve(JSON.parse(process.argv[2]) as LoadSpec);
}
