/**
 * Starts and stops the redis-server the bench compares against, as a child process on a free
 * loopback port, with persistence off (no RDB snapshots, no AOF), so that both stores keep
 * their data in memory only, as Statehouse does.
 */
import { tmpdir } from 'node:os';
import { freePort, spawnTracked, stopChild } from './processes.js';

export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
}

const readyTimeoutMs = 10_000;

/** Spawns `binary` and resolves once it logs that it accepts connections. */
export async function startRedis(binary = 'redis-server'): Promise<RedisServer> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  // --dir: whatever redis might write goes to the temp dir, never into the repository.
  args.push('--dir', tmpdir(), '--daemonize', 'no');
  const child = spawnTracked(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(
      () => fail(new Error(`not ready within ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`cannot start ${binary} on port ${port}: ${error.message}\n${log}`));
    };
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`it exited (${signal ?? code})`)));
    const onOutput = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
      if (log.includes('Ready to accept connections') && child.pid !== undefined) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.stdout?.off('data', onOutput);
        child.stderr?.off('data', onOutput);
        // Keep draining its log so a full pipe never blocks the server.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child.pid);
      }
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
  });
  return { port, pid, stop: () => stopChild(child) };
}
