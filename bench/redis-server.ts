/**
 * Starts and stops the redis-servers the bench compares against, as child processes on free
 * loopback ports, with persistence off (no RDB snapshots, no AOF), so that both stores keep
 * their data in memory only, as Statehouse does. A server started with `replicaOf` is a
 * replica of the primary on that port (`--replicaof 127.0.0.1 PORT`); it is ready to accept
 * connections before its link to the primary is up, which the caller waits for.
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
export async function startRedis(
  binary = 'redis-server',
  options: { replicaOf?: number } = {},
): Promise<RedisServer> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  // A full sync to a replica starts at once instead of after 5 s (the default waits for more
  // replicas to share one transfer); it changes nothing for a server without replicas.
  args.push('--repl-diskless-sync-delay', '0');
  if (options.replicaOf !== undefined) {
    args.push('--replicaof', '127.0.0.1', String(options.replicaOf));
    // The replica starts empty, so it loads the primary's snapshot from the socket: no file.
    args.push('--repl-diskless-load', 'on-empty-db');
  }
  // --dir: whatever redis might write goes to the temp dir, never into the repository, and
  // under a name of its own, so that two servers (or two runs) never share a file.
  args.push('--dir', tmpdir(), '--dbfilename', `statehouse-bench-redis-${port}.rdb`);
  args.push('--daemonize', 'no');
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
