/** Runs `bench/run.ts` as a child process for the bench tests, and checks on what it started. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export function redisInstalled(): boolean {
  return spawnSync('redis-server', ['--version']).error === undefined;
}

export interface BenchRun {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code once the bench exited. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts `node --import tsx bench/run.ts ...args`. After `timeoutMs` it gets SIGTERM, which
 * lets it stop its servers before it exits.
 */
export function startBench(args: string[], timeoutMs: number): BenchRun {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { child, output: () => output, exited };
}

/** Every server pid the bench reported starting (`(pid N)` in its progress lines). */
export function reportedPids(output: string): number[] {
  return [...output.matchAll(/\bpid (\d+)\b/g)].map((m) => Number(m[1]));
}

/** Whether `pid` is a live process (a zombie waiting to be reaped counts as gone). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc entry: gone (or not Linux, where signal 0 tells).
    try {
      process.kill(pid, 0);
      return process.platform !== 'linux';
    } catch {
      return false;
    }
  }
}

/** Polls until none of `pids` runs, or `timeoutMs` passed; resolves with those still running. */
export async function waitUntilGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(running);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
