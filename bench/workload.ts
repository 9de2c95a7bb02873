/**
 * The load generator: closed-loop callers, latency histograms, and CPU accounting.
 *
 * Closed loop: each of C callers issues one call, awaits it, and issues the next, so at most C
 * calls are in flight and throughput is C divided by the mean latency. This is how a web
 * server's request handlers use a session store. (An open-loop generator, issuing calls at a
 * fixed rate whatever the answers, would expose queueing that a closed loop hides; this bench
 * compares two stores under the same closed loop, which is what the ratios need.)
 *
 * The caller of runPhase runs a short untimed phase first, to warm up the JIT, the connection
 * buffers and the allocator, and measures the next one.
 */
import { createHistogram } from 'node:perf_hooks';

/** One operation against the store under test; `caller` picks the caller's own connection. */
export type Operation = (caller: number, random: Random) => Promise<unknown>;

export interface PhaseResult {
  readonly ops: number;
  readonly errors: number;
  /** The first error's message, to say why errors > 0. */
  readonly firstError: string | null;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU time of this (the load generator's) process per measured call, in microseconds. */
  readonly clientCpuUsPerOp: number;
}

/** A small seeded generator (xorshift32): each caller draws its own key sequence. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** A float in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * Runs `op` from `concurrency` closed-loop callers for `seconds`. A call counts when it started
 * before the end; the throughput is the calls divided by the time until the last answer.
 */
export async function runPhase(
  op: Operation,
  options: { concurrency: number; seconds: number; seed?: number },
): Promise<PhaseResult> {
  const histogram = createHistogram();
  const cpuStart = cpuMicros();
  // Times are performance.now() milliseconds, not hrtime BigInts: V8 optimized the callers'
  // loop and histogram.record for numbers, met a BigInt, and deoptimized and recompiled them
  // over and over (a hundred times in a few seconds), so a fifth of the load generator's CPU
  // went to the compiler, taken from the cores the systems under test share with it.
  const start = performance.now();
  const stopAt = start + options.seconds * 1e3;
  let lastEnd = start;
  let ops = 0;
  let errors = 0;
  let firstError: string | null = null;

  const caller = async (index: number): Promise<void> => {
    const random = new Random((options.seed ?? 1) * 7919 + index * 104_729);
    for (let begin = start; begin < stopAt; begin = performance.now()) {
      try {
        await op(index, random);
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        continue;
      }
      const end = performance.now();
      // The histogram counts whole nanoseconds, at least 1.
      histogram.record(Math.max(1, Math.round((end - begin) * 1e6)));
      ops++;
      if (end > lastEnd) lastEnd = end;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => caller(i)));

  const seconds = (lastEnd - start) / 1e3;
  const nsToMs = (ns: number): number => ns / 1e6;
  return {
    ops,
    errors,
    firstError,
    seconds,
    opsPerSec: seconds > 0 ? ops / seconds : 0,
    p50Ms: nsToMs(histogram.percentile(50)),
    p99Ms: nsToMs(histogram.percentile(99)),
    maxMs: nsToMs(histogram.max),
    clientCpuUsPerOp: ops > 0 ? (cpuMicros() - cpuStart) / ops : 0,
  };
}

/** Calls `op(i)` once for every i in [0, count) from `concurrency` callers; resolves with ops/s. */
export async function runEach(
  count: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<{ seconds: number; opsPerSec: number }> {
  let next = 0;
  const start = process.hrtime.bigint();
  const caller = async (): Promise<void> => {
    while (next < count) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, caller));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, opsPerSec: seconds > 0 ? count / seconds : 0 };
}
