/**
 * The shop (examples/shop) under HTTP load, in a process of its own, so that the web server
 * and the load generator (autocannon, in the bench process) do not share one event loop.
 *
 * Both ends are in this file, as in node-process.ts. The bench calls `spawnShopProcess()`,
 * which runs `node --import tsx bench/shop-process.ts SESSIONS`, SESSIONS as JSON:
 *   { "kind": "statehouse", "seeds": [...] }   the shop on Statehouse's express-session store
 *                                              (its own client, default durability: sync);
 *   { "kind": "redis", "port": N }             the same shop on connect-redis, with one
 *                                              node-redis client to redis-server on that port;
 *   { ..., "commandTimeouts": false }          the same without node-redis's 5-second timeout
 *                                              per command (an AbortSignal.timeout each).
 * The same createShop, the same prefix and cookie; only the express-session store differs.
 * The child runs with NODE_ENV=production, as a deployed Express app does.
 *   child -> { type: 'ready', url }        once the shop listens on a free loopback port;
 *   bench -> { type: 'sample' }            child -> { type: 'sample', cpuMicros };
 *   bench -> { type: 'stop' }              the shop closes and the child exits.
 * The child also exits when the channel closes: a crashed bench leaves no shop behind.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import session from 'express-session';
import { createShop, sessionPrefix, type Shop } from '../examples/shop/server.js';
import { loadClient, loadExpressStore } from './built.js';
import { ipcChild, spawnTracked, stopChild } from './processes.js';

export type ShopSessions =
  | {
      readonly kind: 'statehouse';
      readonly seeds: readonly string[];
      /**
       * A control: instead of Statehouse's store, WholeSessionStore below, which keeps each
       * session whole as JSON text, as connect-redis does, through Statehouse's client.
       */
      readonly wholeSessions?: boolean;
    }
  | {
      readonly kind: 'redis';
      readonly port: number;
      /** node-redis's default per-command timeout; false turns it off (a control, not a setting apps use). */
      readonly commandTimeouts?: boolean;
      /**
       * A control: a Statehouse client connected to these nodes as well, which the shop uses
       * only to show the session's partition and primary, as it does with Statehouse's store.
       */
      readonly alsoStatehouseSeeds?: readonly string[];
    };

export interface ShopProcess {
  readonly url: string;
  readonly pid: number;
  /** CPU time the shop process used since it started, user + system, in microseconds. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

type FromChild = { type: 'ready'; url: string } | { type: 'sample'; cpuMicros: number };
type ToChild = { type: 'sample' } | { type: 'stop' };

/** Connecting to the store and listening take well under a second; generous for a busy machine. */
const startTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;
const thisFile = fileURLToPath(import.meta.url);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts a shop process; `nodeFlags` go to node itself (e.g. `--cpu-prof`). */
export async function spawnShopProcess(
  sessions: ShopSessions,
  nodeFlags: readonly string[] = [],
): Promise<ShopProcess> {
  const args = [...nodeFlags, '--import', 'tsx', thisFile, JSON.stringify(sessions)];
  const child = spawnTracked(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ipc = ipcChild<FromChild, ToChild>(child, 'shop process');
  try {
    const { url } = await ipc.next('ready', startTimeoutMs);
    return {
      url,
      pid: ipc.pid,
      async cpuMicros() {
        const reply = ipc.next('sample', startTimeoutMs);
        ipc.send({ type: 'sample' });
        return (await reply).cpuMicros;
      },
      stop: () => ipc.stop({ type: 'stop' }, stopTimeoutMs),
    };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** What WholeSessionStore needs of Statehouse's client. */
interface WholeSessionClient {
  get<T>(key: string): Promise<T | null>;
  set(key: string, value: unknown, options?: { ttlMs?: number }): Promise<number>;
  delete(key: string): Promise<boolean>;
  touch(key: string, ttlMs: number): Promise<boolean>;
}

/**
 * connect-redis's way on Statehouse's client: get parses the session's JSON text, set writes
 * it whole (the last save wins, as with connect-redis), the TTL from the cookie's expiry. Not
 * a store to use (it loses concurrent updates); it tells apart what the merge store costs a
 * web server from what the client and the node do.
 */
class WholeSessionStore extends session.Store {
  constructor(private readonly client: WholeSessionClient) {
    super();
  }

  override get(sid: string, done: (error: unknown, data?: session.SessionData | null) => void) {
    this.client.get<string>(sessionPrefix + sid).then((text) => {
      let data: session.SessionData | null;
      try {
        data = text === null ? null : (JSON.parse(text) as session.SessionData);
      } catch (error) {
        done(error);
        return;
      }
      done(null, data);
    }, done);
  }

  override set(sid: string, data: session.SessionData, done?: (error?: unknown) => void) {
    this.client
      .set(sessionPrefix + sid, JSON.stringify(data), { ttlMs: ttlMsOf(data) })
      .then(() => done?.(), done);
  }

  override touch(sid: string, data: session.SessionData, done?: () => void) {
    this.client.touch(sessionPrefix + sid, ttlMsOf(data)).then(
      () => done?.(),
      () => done?.(),
    );
  }

  override destroy(sid: string, done?: (error?: unknown) => void) {
    this.client.delete(sessionPrefix + sid).then(() => done?.(), done);
  }
}

function ttlMsOf(data: session.SessionData): number {
  const expires = data.cookie?.expires;
  const left =
    expires === undefined || expires === null ? 0 : new Date(expires).getTime() - Date.now();
  return left > 0 ? Math.ceil(left) : 24 * 3_600_000;
}

async function openShop(sessions: ShopSessions): Promise<{ shop: Shop; close(): Promise<void> }> {
  if (sessions.kind === 'statehouse') {
    // Statehouse's client and store as they ship (built.ts), as connect-redis is compiled too.
    const [{ connect }, { createExpressStore }] = await Promise.all([
      loadClient(),
      loadExpressStore(),
    ]);
    const client = await connect({ seeds: sessions.seeds, name: 'shop' });
    const store =
      sessions.wholeSessions === true
        ? new WholeSessionStore(client)
        : createExpressStore(session, { client, prefix: sessionPrefix });
    const shop = await createShop({ client, store, name: 'bench-statehouse' });
    return {
      shop,
      close: async () => {
        await shop.close();
        if (!(store instanceof WholeSessionStore)) store.close();
        await client.close();
      },
    };
  }
  const redis = createClient({
    url: `redis://127.0.0.1:${sessions.port}`,
    // A timeout of 0 makes node-redis skip the AbortSignal.timeout it gives every command.
    ...(sessions.commandTimeouts === false ? { commandOptions: { timeout: 0 } } : {}),
  });
  // Commands reject with the error themselves; this keeps node-redis from also throwing it.
  redis.on('error', () => undefined);
  await redis.connect();
  const store = new RedisStore({ client: redis, prefix: sessionPrefix });
  const client =
    sessions.alsoStatehouseSeeds === undefined
      ? undefined
      : await (await loadClient()).connect({ seeds: sessions.alsoStatehouseSeeds, name: 'shop' });
  const shop = await createShop({ store, name: 'bench-redis', ...(client && { client }) });
  return {
    shop,
    close: async () => {
      await shop.close();
      redis.destroy();
      await client?.close();
    },
  };
}

async function main(): Promise<void> {
  const send = (message: FromChild): void => {
    process.send?.(message);
  };
  const sessions = JSON.parse(process.argv[2] ?? '{}') as ShopSessions;
  const { shop, close } = await openShop(sessions);
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ToChild) => {
    if (message.type === 'sample') {
      const cpu = process.cpuUsage();
      send({ type: 'sample', cpuMicros: cpu.user + cpu.system });
    } else if (message.type === 'stop') {
      void close().finally(() => process.exit(0));
    }
  });
  send({ type: 'ready', url: shop.url });
}

// Run as the child only when this file is the entry point, not when the bench imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error('shop process failed:', error);
    process.exit(1);
  });
}
