/**
 * What both sections of the bench share (the single-node one in run.ts and the replicated one
 * in replicated.ts): the settings, the systems under test as the phases see them, measuring
 * one phase against one system, and Redis connections and INFO.
 */
import { Redis } from 'ioredis';
import type { Client } from '../src/client/index.js';
import { phaseLabels, type MeasuredPhase, type PhaseName, type SystemId } from './report.js';
import type { LoadProcess } from './load-process.js';

export interface Settings {
  keys: number;
  valueBytes: number;
  concurrency: number;
  seconds: number;
  warmupSeconds: number;
  durability: 'sync' | 'async';
  outDir: string;
  redisBinary: string;
  nodeFlags: string[];
  /** Run only the replicated section, and print its figures instead of writing a report. */
  replicatedOnly: boolean;
  /** The HTTP section: autocannon connections (one session each), seconds measured and warm-up. */
  httpConnections: number;
  httpSeconds: number;
  httpWarmupSeconds: number;
  /** Given to each shop process's node, e.g. `--cpu-prof`. */
  shopFlags: string[];
  /** Run only the HTTP section, and print its figures instead of writing a report. */
  httpOnly: boolean;
}

/** A session as the bench writes it: an id and one string field of `valueBytes` characters. */
export interface Doc {
  id: number;
  data: string;
}

/** What each phase does to a system: a read that must find the key, and a write. */
export interface Target {
  get(caller: number, key: string): Promise<unknown>;
  set(caller: number, key: string, value: Doc): Promise<unknown>;
}

/** One system under test, loaded and ready for the phases. */
export interface OpenSystem {
  readonly id: SystemId;
  readonly label: string;
  /** The process that runs this system's calls, with the system's client. */
  readonly load: LoadProcess;
  readonly preload: { readonly seconds: number; readonly opsPerSec: number };
  /** The server processes' CPU time so far (all of them, for a replicated system), in µs. */
  serverCpuMicros(): Promise<number>;
}

/** Things to close at the end, last opened first closed. */
export type Closers = (() => Promise<void>)[];

export const loopback = '127.0.0.1';
/** Redis connections a pool may open, at most: more callers share them round-robin. */
export const redisPoolConnectionsMax = 64;

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** The bench's keys: `key:0`, `key:1`, ... */
export function benchKey(i: number): string {
  return `key:${i}`;
}

/**
 * The bench's values: `{ id, data }`, `data` one printable string of `valueBytes` ASCII
 * characters, the same for every value: neither system compresses.
 */
export function benchValue(valueBytes: number): (i: number) => Doc {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let payload = '';
  for (let i = 0; i < valueBytes; i++) payload += alphabet[(i * 7 + 3) % alphabet.length];
  return (i) => ({ id: i, data: payload });
}

export function missing(key: string): Error {
  return new Error(`${key} is missing: the preload should have written it`);
}

/** Statehouse as a phase sees it: one client, each key sent to its partition's primary. */
export function statehouseTarget(client: Client): Target {
  return {
    get: async (_caller, key) => {
      const value = await client.get<Doc>(key);
      if (value === null) throw missing(key);
      return value;
    },
    set: (_caller, key, value) => client.set(key, value),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Warms up, then measures one phase against one system. The calls run in the system's own
 * load process (load-process.ts); this process only samples the servers' CPU around them.
 */
export async function measurePhase(
  system: OpenSystem,
  phase: PhaseName,
  settings: Settings,
): Promise<MeasuredPhase> {
  if (settings.warmupSeconds > 0) await system.load.run(phase, settings.warmupSeconds, 2);
  const cpuBefore = await system.serverCpuMicros();
  const result = await system.load.run(phase, settings.seconds, 1);
  const serverCpu = (await system.serverCpuMicros()) - cpuBefore;
  const name = `${system.label}, ${phaseLabels[phase]}`;
  if (result.ops === 0) throw new Error(`${name}: no call succeeded (${result.firstError})`);
  if (result.errors > 0)
    progress(`  warning: ${result.errors} errors, first: ${result.firstError}`);
  progress(
    `  ${name}: ${Math.round(result.opsPerSec)} ops/s, ` +
      `p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms`,
  );
  return { ...result, serverCpuUsPerOp: serverCpu / result.ops };
}

/** A Redis SET followed by WAIT: acknowledged by this many replicas within the timeout. */
export interface RedisWait {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/**
 * A session store's write to Redis, as every Redis phase and preload makes it: SET of the
 * value's JSON, then, with `wait`, WAIT on the same connection; fewer replicas than asked
 * for is an error.
 */
export async function redisSet(
  connection: Redis,
  key: string,
  value: Doc,
  wait?: RedisWait,
): Promise<void> {
  await connection.set(key, JSON.stringify(value));
  if (wait === undefined) return;
  const acknowledged = await connection.wait(wait.replicas, wait.timeoutMs);
  if (acknowledged < wait.replicas) {
    throw new Error(
      `WAIT ${wait.replicas} ${wait.timeoutMs}: ${acknowledged} replicas acknowledged ` +
        `the SET of ${key}`,
    );
  }
}

/** An ioredis connection to a server on loopback, closed with the others at the end. */
export async function connectRedis(
  port: number,
  options: { enableAutoPipelining: boolean },
  closers: Closers,
): Promise<Redis> {
  const redis = new Redis({ host: loopback, port, maxRetriesPerRequest: 1, ...options });
  // Commands reject with the error themselves; this keeps ioredis from also logging it.
  redis.on('error', () => undefined);
  closers.push(async () => redis.disconnect());
  await redis.ping();
  return redis;
}

/** INFO output as a map of field to value. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

export function infoNumber(fields: Map<string, string>, name: string): number {
  const n = Number(fields.get(name));
  if (!Number.isFinite(n)) throw new Error(`redis INFO has no number ${name}`);
  return n;
}

/** One INFO section of the server behind `connection`, parsed. */
export async function redisInfo(connection: Redis, section: string): Promise<Map<string, string>> {
  return parseInfo(await connection.info(section));
}

/** The Redis server's CPU time so far, user + system, in microseconds. */
export async function redisCpuMicros(connection: Redis): Promise<number> {
  const cpu = await redisInfo(connection, 'cpu');
  return (infoNumber(cpu, 'used_cpu_user') + infoNumber(cpu, 'used_cpu_sys')) * 1e6;
}
