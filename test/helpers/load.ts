/**
 * Continuous client load for chaos tests, and the checks that judge it afterwards.
 *
 * `WriteLoad.start()` runs N concurrent callers over the real client (`connect` from
 * src/client), each writing in a loop until `stop()`. It records, per key, what the cluster
 * acknowledged and what ended in doubt, and every error by code. Two shapes of load:
 *
 * - `unique` (default): every write goes to a key of its own (`PREFIX:CALLER:N`), written
 *   once. After the run, each acknowledged key must read back exactly its value: anything
 *   else is a lost write. Simple, and every write is checked.
 * - `registers`: each caller overwrites its own few keys with increasing numbers, and may
 *   read keys back. Only one caller writes a key, so at the end a key must hold its newest
 *   acknowledged value, or a value whose write ended in doubt.
 *
 * With `history: true` every call is also recorded as Jepsen events (test/sim/checker), so
 * the linearizability checker can judge reads taken during faults (stale reads from a primary
 * cut off from the rest, for example). A caller is one Jepsen process: it has at most one
 * call in flight.
 *
 * `verifyAcknowledged()` reads every acknowledged key back and lists the lost ones.
 * `partitionProbe()` writes one key per partition in a loop until each partition accepts a
 * write again: the failover time as a client sees it.
 */
import type { Client } from '../../src/client/index.js';
import { connect } from '../../src/client/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { partitionOf } from '../../src/core/keys.js';
import type { HistoryEvent } from '../sim/checker/index.js';

export type Durability = 'sync' | 'async';

export interface LoadOptions {
  seeds: readonly string[];
  /** Concurrent callers, each with one call in flight. Default 8. */
  callers?: number;
  durability?: Durability;
  /** Prefix of every key, so that two loads on one cluster never share keys. Default `load`. */
  prefix?: string;
  /** `unique` (default) or `registers`; see the module comment. */
  mode?: 'unique' | 'registers';
  /** registers: keys per caller. Default 4. */
  keysPerCaller?: number;
  /** registers: the share of calls that read one of the caller's keys, 0 to 1. Default 0. */
  readShare?: number;
  /**
   * registers: each caller moves to fresh keys after this many calls. Default: never. A long
   * run sets it so that each key's history stays short: the linearizability checker's search
   * is exponential in the writes of unknown outcome that overlap on one key.
   */
  rotateKeysEvery?: number;
  /**
   * Pause of each caller between calls, in ms. Default 2: a steady load that leaves the
   * machine's cores to the nodes, so a slow failover is the system's, not the load's.
   */
  pauseMs?: number;
  /** The client's deadline per call, retries included. Default 5000, the client's default. */
  timeoutMs?: number;
  /** Record Jepsen events for the checker. Default false. */
  history?: boolean;
}

export interface ErrorTally {
  count: number;
  inDoubt: number;
  /** Milliseconds since the epoch of the first and last occurrence. */
  first: number;
  last: number;
  /** One message of this code, for the report. */
  example: string;
}

export interface LoadRecord {
  durability: Durability;
  startedAt: number;
  stoppedAt: number;
  /** Writes the cluster acknowledged: key -> the newest acknowledged value. */
  acknowledged: Map<string, unknown>;
  /**
   * Writes that ended in doubt, key -> every value written in doubt: each may or may not
   * have taken effect, at any moment after it was sent (even after a later acknowledged
   * write, in principle), so each is an allowed final value.
   */
  inDoubt: Map<string, unknown[]>;
  /** Writes refused for certain (no effect), by key. */
  failed: Set<string>;
  /** Errors by code; a TIMEOUT carries the last error before it in `lastCause`. */
  errors: Map<string, ErrorTally>;
  /** When each acknowledged write returned (ms since the epoch), in order: gaps show stalls. */
  ackTimes: number[];
  writes: { attempted: number; acknowledged: number };
  reads: { attempted: number; ok: number };
  /** Jepsen events, when `history` was asked for. */
  events: HistoryEvent[];
}

/** The code of an error, and for a client TIMEOUT, the code of the last error before it. */
export function errorCode(error: unknown): string {
  if (!(error instanceof StatehouseError)) return 'NOT_A_STATEHOUSE_ERROR';
  const cause = error.cause;
  if (error.code === 'TIMEOUT' && cause instanceof StatehouseError && cause !== error)
    return `TIMEOUT(${cause.code})`;
  return error.code;
}

/** True for an error that says the operation failed but might still take effect. */
function isInDoubt(error: unknown): boolean {
  return error instanceof StatehouseError && error.inDoubt;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class WriteLoad {
  private running = true;
  private readonly callers: Promise<void>[] = [];
  private readonly record: LoadRecord;
  private readonly started = performance.now();

  private constructor(
    private readonly client: Client,
    private readonly options: Required<Omit<LoadOptions, 'seeds'>>,
  ) {
    this.record = {
      durability: options.durability,
      startedAt: Date.now(),
      stoppedAt: 0,
      acknowledged: new Map(),
      inDoubt: new Map(),
      failed: new Set(),
      errors: new Map(),
      ackTimes: [],
      writes: { attempted: 0, acknowledged: 0 },
      reads: { attempted: 0, ok: 0 },
      events: [],
    };
  }

  /** Connects its own client and starts the callers; resolves once they are running. */
  static async start(options: LoadOptions): Promise<WriteLoad> {
    const full = {
      callers: options.callers ?? 8,
      durability: options.durability ?? 'sync',
      prefix: options.prefix ?? 'load',
      mode: options.mode ?? 'unique',
      keysPerCaller: options.keysPerCaller ?? 4,
      readShare: options.readShare ?? 0,
      rotateKeysEvery: options.rotateKeysEvery ?? Infinity,
      pauseMs: options.pauseMs ?? 2,
      timeoutMs: options.timeoutMs ?? 5_000,
      history: options.history ?? false,
    } as const;
    const client = await connect({
      seeds: [...options.seeds],
      timeoutMs: full.timeoutMs,
      durability: full.durability,
      name: `load-${full.prefix}`,
    });
    const load = new WriteLoad(client, full);
    for (let c = 0; c < full.callers; c++) load.callers.push(load.run(c));
    return load;
  }

  /** Acknowledged writes so far. */
  get acknowledgedCount(): number {
    return this.record.writes.acknowledged;
  }

  /** Resolves once at least `n` more writes were acknowledged (or throws after `timeoutMs`). */
  async acknowledgedMore(n: number, timeoutMs = 30_000): Promise<void> {
    const target = this.record.writes.acknowledged + n;
    const deadline = Date.now() + timeoutMs;
    while (this.record.writes.acknowledged < target) {
      if (Date.now() > deadline)
        throw new Error(
          `the load got ${target - this.record.writes.acknowledged} acknowledgements short of ${n} in ${timeoutMs} ms`,
        );
      await sleep(20);
    }
  }

  /** Stops the callers, waits for the calls in flight, closes the client, returns the record. */
  async stop(): Promise<LoadRecord> {
    this.running = false;
    await Promise.all(this.callers);
    await this.client.close();
    this.record.stoppedAt = Date.now();
    return this.record;
  }

  private now(): number {
    return performance.now() - this.started;
  }

  private event(e: Omit<HistoryEvent, 'time'>): void {
    if (this.options.history) this.record.events.push({ ...e, time: this.now() });
  }

  private tally(error: unknown): void {
    const code = errorCode(error);
    const at = Date.now();
    const t = this.record.errors.get(code);
    if (t === undefined) {
      this.record.errors.set(code, {
        count: 1,
        inDoubt: isInDoubt(error) ? 1 : 0,
        first: at,
        last: at,
        example: (error as Error).message,
      });
    } else {
      t.count++;
      if (isInDoubt(error)) t.inDoubt++;
      t.last = at;
    }
  }

  private async run(caller: number): Promise<void> {
    const { mode, keysPerCaller, readShare, pauseMs, prefix, rotateKeysEvery } = this.options;
    let n = 0;
    while (this.running) {
      n++;
      const generation = rotateKeysEvery === Infinity ? '' : `g${Math.floor(n / rotateKeysEvery)}:`;
      const key =
        mode === 'unique'
          ? `${prefix}:${caller}:${n}`
          : `${prefix}:${caller}:${generation}${n % keysPerCaller}`;
      if (mode === 'registers' && n > keysPerCaller && Math.random() < readShare) {
        await this.read(caller, key);
      } else {
        await this.write(caller, key, mode === 'unique' ? { c: caller, n } : n);
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }

  private async write(caller: number, key: string, value: unknown): Promise<void> {
    const r = this.record;
    r.writes.attempted++;
    this.event({ process: caller, type: 'invoke', f: 'write', key, value });
    try {
      await this.client.set(key, value);
      this.event({ process: caller, type: 'ok', f: 'write', key, value: null });
      r.writes.acknowledged++;
      r.ackTimes.push(Date.now());
      r.acknowledged.set(key, value);
      r.failed.delete(key);
    } catch (error) {
      this.tally(error);
      if (isInDoubt(error)) {
        this.event({ process: caller, type: 'info', f: 'write', key, value: null });
        const list = r.inDoubt.get(key);
        if (list === undefined) r.inDoubt.set(key, [value]);
        else list.push(value);
      } else {
        this.event({ process: caller, type: 'fail', f: 'write', key, value: null });
        if (!r.acknowledged.has(key) && !r.inDoubt.has(key)) r.failed.add(key);
      }
    }
  }

  private async read(caller: number, key: string): Promise<void> {
    const r = this.record;
    r.reads.attempted++;
    this.event({ process: caller, type: 'invoke', f: 'read', key, value: null });
    try {
      const value = await this.client.get(key);
      r.reads.ok++;
      this.event({ process: caller, type: 'ok', f: 'read', key, value });
    } catch (error) {
      this.tally(error);
      // A read changes nothing: a failed one is a 'fail' whatever the cause.
      this.event({ process: caller, type: 'fail', f: 'read', key, value: null });
    }
  }
}

export interface Verification {
  /** Acknowledged keys read back. */
  checked: number;
  /** Acknowledged keys that read back absent or with another value than any allowed. */
  lost: { key: string; expected: unknown; got: unknown }[];
  /** Keys whose read failed even after retries: neither verified nor known lost. */
  unreadable: { key: string; code: string }[];
  /** Writes that ended in doubt and were found to have taken effect. */
  inDoubtApplied: number;
}

/**
 * Reads every acknowledged key of `record` back from its primary and compares it with the
 * newest acknowledged value, or a later value written in doubt. `concurrency` reads at a time;
 * a read that fails is retried `attempts` times before the key is listed as unreadable.
 */
export async function verifyAcknowledged(
  seeds: readonly string[],
  record: LoadRecord,
  options: { concurrency?: number; attempts?: number; timeoutMs?: number } = {},
): Promise<Verification> {
  const client = await connect({
    seeds: [...seeds],
    timeoutMs: options.timeoutMs ?? 10_000,
    name: 'load-verifier',
  });
  const result: Verification = { checked: 0, lost: [], unreadable: [], inDoubtApplied: 0 };
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  try {
    const keys = [...record.acknowledged.keys()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++]!;
        const expected = record.acknowledged.get(key);
        const allowed = [expected, ...(record.inDoubt.get(key) ?? [])];
        for (let attempt = 1; ; attempt++) {
          try {
            const got = await client.get(key);
            result.checked++;
            if (!allowed.some((v) => same(v, got))) result.lost.push({ key, expected, got });
            else if (!same(expected, got)) result.inDoubtApplied++;
            break;
          } catch (error) {
            if (attempt >= (options.attempts ?? 3)) {
              result.unreadable.push({ key, code: errorCode(error) });
              break;
            }
          }
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
    // Writes that ended in doubt on keys never acknowledged: count the ones that took effect.
    for (const [key, values] of record.inDoubt) {
      if (record.acknowledged.has(key)) continue;
      try {
        const got = await client.get(key);
        if (got !== null && values.some((v) => same(v, got))) result.inDoubtApplied++;
      } catch {
        // Not part of the verdict: these writes were never acknowledged.
      }
    }
  } finally {
    await client.close();
  }
  return result;
}

/** One key per partition (`PREFIX-N` for the first N that lands there), by partition. */
export function keyPerPartition(partitionCount: number, prefix = 'probe'): string[] {
  const keys = new Array<string | undefined>(partitionCount).fill(undefined);
  let found = 0;
  for (let i = 0; found < partitionCount; i++) {
    const key = `${prefix}-${i}`;
    const p = partitionOf(key, partitionCount);
    if (keys[p] === undefined) {
      keys[p] = key;
      found++;
    }
  }
  return keys as string[];
}

export interface ProbeResult {
  /** ms from `since` to the first acknowledged write of each partition (started after `since`). */
  perPartition: number[];
  /** The largest of them: when every partition accepted writes again. */
  allMs: number;
  /** The partition that took longest. */
  slowest: number;
  /** The failed calls of the slowest partition: `START-END ms CODE: message`, for a report. */
  slowestErrors: string[];
}

/**
 * Measures when every partition accepts writes again: for each partition, a key of it is
 * written in a loop (each call with a short deadline, so a write stuck on a dead node is
 * abandoned and the next one routes afresh) until one write *started at or after `since`*
 * is acknowledged. Per-call errors are expected while the cluster recovers and are ignored;
 * after `timeoutMs` without success the probe throws, naming the partitions still refusing.
 */
export async function partitionProbe(
  client: Client,
  keys: readonly string[],
  since: number,
  options: {
    durability?: Durability;
    callTimeoutMs?: number;
    timeoutMs?: number;
    only?: readonly number[];
  } = {},
): Promise<ProbeResult> {
  const perPartition = new Array<number>(keys.length).fill(0);
  const deadline = since + (options.timeoutMs ?? 60_000);
  const pending = new Set<number>(options.only ?? keys.map((_, p) => p));
  const lastError = new Map<number, string>();
  const trace = new Map<number, string[]>();
  let value = 0;
  await Promise.all(
    [...pending].map(async (p) => {
      const calls: string[] = [];
      trace.set(p, calls);
      while (Date.now() < deadline) {
        const start = Date.now() - since;
        try {
          await client.set(keys[p]!, ++value, {
            timeoutMs: options.callTimeoutMs ?? 500,
            durability: options.durability ?? 'sync',
          });
          perPartition[p] = Date.now() - since;
          pending.delete(p);
          return;
        } catch (error) {
          lastError.set(p, errorCode(error));
          if (calls.length < 40) {
            const message = error instanceof Error ? error.message : String(error);
            calls.push(`${start}-${Date.now() - since} ms ${errorCode(error)}: ${message}`);
          }
          await sleep(5);
        }
      }
    }),
  );
  if (pending.size > 0) {
    const which = [...pending]
      .slice(0, 10)
      .map((p) => `${p} (${lastError.get(p) ?? '?'})`)
      .join(', ');
    throw new Error(
      `${pending.size} partitions accepted no write within ${options.timeoutMs ?? 60_000} ms: ${which}`,
    );
  }
  let slowest = -1;
  let allMs = 0;
  for (const p of options.only ?? keys.map((_, i) => i)) {
    if (perPartition[p]! >= allMs) {
      allMs = perPartition[p]!;
      slowest = p;
    }
  }
  return { perPartition, allMs, slowest, slowestErrors: trace.get(slowest) ?? [] };
}

/** One line per error code, for a report: `CODE xN (in doubt M)`. */
export function describeErrors(record: LoadRecord): string {
  if (record.errors.size === 0) return 'none';
  return [...record.errors]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([code, t]) => `${code} x${t.count}${t.inDoubt > 0 ? ` (in doubt ${t.inDoubt})` : ''}`)
    .join(', ');
}

/** The longest time between two acknowledgements of the load, in ms: the stall clients felt. */
export function longestAckGap(record: LoadRecord): number {
  let gap = 0;
  for (let i = 1; i < record.ackTimes.length; i++)
    gap = Math.max(gap, record.ackTimes[i]! - record.ackTimes[i - 1]!);
  return gap;
}

/** The q-quantile (0..1) of `values` by the nearest-rank method. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** The part of a record about the keys `keep` accepts: to verify some partitions only. */
export function filterRecord(record: LoadRecord, keep: (key: string) => boolean): LoadRecord {
  return {
    ...record,
    acknowledged: new Map([...record.acknowledged].filter(([key]) => keep(key))),
    inDoubt: new Map([...record.inDoubt].filter(([key]) => keep(key))),
    failed: new Set([...record.failed].filter(keep)),
  };
}
