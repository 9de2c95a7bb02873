/**
 * Shared fixtures for the session tests: web servers on loopback, a browser with one cookie
 * that sends each request to the next server in turn (a round-robin load balancer), a
 * redis-server of the test's own, and gates that hold a handler until the test lets it go.
 */
import { spawn } from 'node:child_process';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createNetServer, connect as netConnect } from 'node:net';
import { after, before } from 'node:test';
import { connect, type Client } from '../../src/client/index.js';
import { startCluster } from '../helpers/cluster.js';

type After = { after: (fn: () => Promise<void> | void) => void };

/** Serves `handler` on a free loopback port until the test ends; resolves to its base URL. */
export async function listen(t: After, handler: RequestListener): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

export interface Reply {
  status: number;
  body: unknown;
  setCookie: string | null;
}

/** One user: keeps the session cookie, sends request i to server i mod n. */
export class Browser {
  cookie: string | null = null;
  private next = 0;

  constructor(private readonly servers: readonly string[]) {}

  async request(method: string, path: string): Promise<Reply> {
    const base = this.servers[this.next++ % this.servers.length]!;
    const response = await fetch(base + path, {
      method,
      headers: this.cookie === null ? {} : { cookie: this.cookie },
    });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie !== null) this.cookie = setCookie.split(';')[0]!;
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: response.status, body, setCookie };
  }

  /** The session id inside the signed cookie (`name=s:ID.signature`). */
  get sessionId(): string | null {
    if (this.cookie === null) return null;
    const value = decodeURIComponent(this.cookie.slice(this.cookie.indexOf('=') + 1));
    const unsigned = value.startsWith('s:') ? value.slice(2) : value;
    return unsigned.slice(0, unsigned.lastIndexOf('.'));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A handler waits at a gate until the test opens it; the test can wait until it arrived. */
export class Gate {
  private open!: () => void;
  private arrive!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  readonly arrived = new Promise<void>((resolve) => (this.arrive = resolve));

  /** Called by the handler. */
  async pass(): Promise<void> {
    this.arrive();
    await this.opened;
  }

  release(): void {
    this.open();
  }
}

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * Starts /usr/bin/redis-server on a free loopback port, without persistence; stops it by pid
 * when the test ends. Resolves to its port once it accepts connections.
 */
export async function startRedis(t: After): Promise<number> {
  const port = await freePort();
  const child = spawn(
    '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  t.after(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return port;
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await sleep(20);
  }
}

/**
 * One cluster for all the tests of a file: `startCluster` wants a test context for its
 * cleanup; this one collects the cleanups and runs them, newest first, when the file ends.
 */
export class FileScope {
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  after(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.cleanups.reverse()) await fn();
  }
}

/**
 * A three-node cluster (16 partitions) and a client, shared by every test of the calling
 * file: started before the first test, closed after the last. The returned scope takes the
 * file's other cleanups, run before the cluster's.
 */
export function useSharedCluster(receive: (client: Client) => void): FileScope {
  const scope = new FileScope();
  before(async () => {
    const nodes = await startCluster(scope, 3, { partitions: 16 });
    const client = await connect({ seeds: nodes.map((n) => n.address) });
    scope.after(() => client.close());
    receive(client);
  });
  after(() => scope.close());
  return scope;
}

/** The store surface `sessionAsLoaded` uses: what express-session calls on a load. */
interface LoadingStore {
  get(sid: string): Promise<unknown>;
  createSession(req: never, data: never): unknown;
}

/**
 * What express-session makes of a load, without a request: the store's `get` of `sid`, or
 * `data` when given, turned into the request's Session by the store's own `createSession`.
 */
export async function sessionAsLoaded(
  store: LoadingStore,
  sid: string,
  data?: unknown,
): Promise<Record<string, unknown>> {
  const loaded = data === undefined ? await store.get(sid) : data;
  return store.createSession(
    { sessionID: sid, sessionStore: store } as never,
    loaded as never,
  ) as Record<string, unknown>;
}
