/**
 * Real `statehouse` processes for tests, started from the TypeScript sources. Every test that
 * starts one stops it by its pid in `t.after`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export const cliMain = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Runs `statehouse node ARGS` and resolves once it logs that it listens. */
export async function spawnNode(args: string[], startTimeoutMs = 20_000): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', cliMain, 'node', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const deadline = Date.now() + startTimeoutMs;
  while (!output.includes('node listening')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`node did not start: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/** Stops a process by its pid with `signal` and resolves with its exit code. */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGINT',
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill(signal);
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}
