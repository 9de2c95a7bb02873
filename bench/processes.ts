/**
 * Child processes of the bench (redis-server, the Statehouse nodes, the shops, the load
 * processes): spawned here, tracked, and always stopped by their pid, on success, on error,
 * on Ctrl-C, and as a last resort when this process exits. Only a SIGKILL of the bench itself
 * can leave one behind: redis-server then, since the Node children exit when their IPC
 * channel to the bench closes.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';

const live = new Set<ChildProcess>();
const stopGraceMs = 5_000;

process.on('exit', () => {
  for (const child of live) if (child.pid !== undefined) killQuietly(child.pid);
});

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/**
 * SIGINT (a Statehouse node stops at once; SIGTERM would drain it first, pointless when the
 * whole cluster stops; redis-server shuts down on either), then SIGKILL if it has not exited
 * within the grace period. Idempotent.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || exited(child)) return;
  const pid = child.pid;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killQuietly(pid, 'SIGINT');
  const timer = setTimeout(() => killQuietly(pid), stopGraceMs);
  await gone;
  clearTimeout(timer);
}

/** Stops every child still running (on an error or a signal). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => stopChild(child)));
}

/** A loopback port that was free a moment ago (the OS picks it; a race is possible, not likely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The bench's end of a child that talks over the IPC channel (a Statehouse node, a shop):
 * messages are objects with a `type`. `next(type)` waits for the next message of that type,
 * and fails if the child exits or sends none in time; `stop(message)` asks the child to exit
 * (so that a --cpu-prof profile gets written) and stops it by its pid if it has not within
 * `timeoutMs`.
 */
export interface IpcChild<From extends { type: string }, To> {
  readonly pid: number;
  next<T extends From['type']>(type: T, timeoutMs: number): Promise<Extract<From, { type: T }>>;
  send(message: To): void;
  stop(message: To, timeoutMs: number): Promise<void>;
}

export function ipcChild<From extends { type: string }, To>(
  child: ChildProcess,
  what: string,
): IpcChild<From, To> {
  const isMessage = (message: unknown): message is From =>
    typeof message === 'object' && message !== null && 'type' in message;
  return {
    pid: child.pid ?? 0,
    next: (type, timeoutMs) =>
      new Promise((resolve, reject) => {
        const cleanup = (): void => {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        const onMessage = (message: unknown): void => {
          if (!isMessage(message) || message.type !== type) return;
          cleanup();
          resolve(message as Extract<From, { type: typeof type }>);
        };
        const onExit = (code: number | null, signal: string | null): void => {
          cleanup();
          reject(
            new Error(
              `the ${what} exited (${signal ?? code}) while the bench waited for '${type}'`,
            ),
          );
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`the ${what} sent no '${type}' within ${timeoutMs} ms`));
        }, timeoutMs);
        child.on('message', onMessage);
        child.once('exit', onExit);
      }),
    send: (message) => {
      child.send(message as object);
    },
    async stop(message, timeoutMs) {
      if (exited(child)) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send(message as object);
      const timer = setTimeout(() => void stopChild(child), timeoutMs);
      await gone;
      clearTimeout(timer);
    },
  };
}
