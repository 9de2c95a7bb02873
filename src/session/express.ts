/**
 * A store for express-session (`statehouse/express`) that never loses an update.
 *
 *   import session from 'express-session';
 *   import { connect } from 'statehouse';
 *   import { createExpressStore } from 'statehouse/express';
 *
 *   const client = await connect({ seeds: ['10.0.0.1:7400'] });
 *   app.use(session({ store: createExpressStore(session, { client }), secret, resave: false,
 *                     saveUninitialized: false, cookie: { maxAge: 30 * 60_000 } }));
 *
 * Why a factory that takes the express-session module. express-session needs more from a
 * store than get/set/destroy: it calls `store.on('connect' | 'disconnect')`, assigns
 * `store.generate`, and calls `createSession`, `load` and `regenerate`, which come from its
 * `Store` base class. Statehouse does not depend on express-session at run time (it is the
 * application's), so the application hands its copy in and the store extends that `Store`:
 * `instanceof session.Store` holds and every inherited method is express-session's own, of
 * the version the application runs.
 *
 * How a save finds what its request loaded (merge.ts needs it). express-session turns what
 * `get` returned into a `Session` object through `store.createSession(req, data)`, on load
 * and on `req.session.reload()`, and later passes that same object to `set` and `touch`. This
 * store overrides `createSession` to link the new `Session` to the document `get` loaded, in
 * a non-enumerable symbol-keyed property (session-links.ts, hidden-slot.ts): JSON,
 * `for ... in`, spread and express-session's change hash skip it, and the link dies with the
 * request. (The data `get` returns, an object of the store's own that only createSession
 * reads, carries its link as a plain symbol-keyed property, which costs less.) A session
 * that `set` does not know (made by `generate` or `regenerate`) is new, and is written with
 * ifAbsent. After each save the link moves to what was saved, so a second save in one request
 * (`req.session.save()` and then the automatic one) writes only what changed in between; the
 * second waits for the first (session-links.ts). A save that found the session destroyed leaves
 * a link that says so, and every later save of that Session writes nothing. With `lock`,
 * createSession also gives the Session a `reload` of its own (not enumerable) that runs
 * express-session's under the lock its request holds: the framework's reload calls `get` with
 * the id only, which would otherwise wait for that lock (engine.ts, reloadWith).
 *
 * The interface, as express-session documents it: get, set, destroy (required); touch (so
 * `resave: false` works; cheap, see engine.ts); all, length, clear, and ids (connect-redis's)
 * with `index: true`. Every method takes an optional callback and returns a promise.
 * TTL: the time left until `cookie.expires`, or `ttlMs` when the cookie has no expiry (a
 * browser-session cookie); a cookie already expired destroys the session, on a save or a touch.
 * Events: `connect` and `disconnect` (engine.ts), `dropped` (id) when a save found its
 * session destroyed and wrote nothing: a logout won, and with `lock`, `lockLost` (id) when a
 * request's lock expired or was taken while it ran (its save then fails with LOCK_LOST).
 */
import type { EventEmitter } from 'node:events';
import { settle, type Callback } from './callbacks.js';
import {
  checkUnlockArgument,
  SessionEngine,
  type Loaded,
  type SessionStoreOptions,
} from './engine.js';
import type { Doc } from './merge.js';
import { HiddenSlot } from './hidden-slot.js';
import { SessionLinks } from './session-links.js';

export type { SessionStoreOptions, Serializer, LockOptions } from './engine.js';
export { SessionLockLostError, SessionLockTimeoutError } from './engine.js';

/** What the store needs of express-session's Store base class. */
export interface ExpressStoreBase extends EventEmitter {
  createSession(req: unknown, data: unknown): unknown;
}

/** The store's own methods, beside those inherited from express-session's Store. */
export interface ExpressStoreMethods {
  get(sid: string, callback?: Callback<Doc | null>): Promise<Doc | null | undefined>;
  set(sid: string, session: object, callback?: Callback<void>): Promise<void>;
  destroy(sid: string, callback?: Callback<void>): Promise<void>;
  touch(sid: string, session: object, callback?: Callback<void>): Promise<void>;
  all(callback?: Callback<Doc[]>): Promise<Doc[] | undefined>;
  ids(callback?: Callback<string[]>): Promise<string[] | undefined>;
  length(callback?: Callback<number>): Promise<number | undefined>;
  clear(callback?: Callback<void>): Promise<void>;
  /**
   * Releases the lock of the request whose session this is (`req.session`, or what `get`
   * returned), if that request still holds it.
   */
  unlock(session: object): Promise<void>;
  /** Stops the reachability probe; the client stays open. */
  close(): void;
  /** Whether the last call reached the cluster. */
  readonly connected: boolean;
}

interface CookieLike {
  expires?: unknown;
}

/** Milliseconds until the cookie expires, or the default when it has no expiry. */
function ttlOf(session: object, ttlMsDefault: number): number {
  const cookie = (session as { cookie?: CookieLike }).cookie;
  const expires = cookie?.expires;
  if (expires instanceof Date || typeof expires === 'string' || typeof expires === 'number') {
    const at = new Date(expires).getTime();
    if (Number.isFinite(at)) return at - Date.now();
  }
  return ttlMsDefault;
}

/**
 * A Statehouse store for express-session. `session` is the express-session module (its
 * default export); the store extends its `Store`.
 */
export function createExpressStore<C extends abstract new () => ExpressStoreBase>(
  session: { readonly Store: C },
  options: SessionStoreOptions,
): InstanceType<C> & ExpressStoreMethods {
  if (typeof session?.Store !== 'function') {
    throw new TypeError(
      "createExpressStore(session, options): pass the express-session module as the first argument (import session from 'express-session')",
    );
  }
  const Base = session.Store as unknown as new () => ExpressStoreBase;

  class StatehouseExpressStore extends Base implements ExpressStoreMethods {
    readonly engine: SessionEngine;
    /** What each `get` returned, until express-session makes a Session of it. */
    private readonly loadedData = new HiddenSlot<Loaded>('statehouse.loaded');
    /**
     * What each Session's request loaded or last saved, and its writes: one save or touch at
     * a time, each starting from where the last one ended.
     */
    private readonly sessions = new SessionLinks();

    constructor() {
      super();
      this.engine = new SessionEngine(options, this);
    }

    get connected(): boolean {
      return this.engine.isConnected;
    }

    override createSession(req: unknown, data: unknown): unknown {
      const loaded =
        typeof data === 'object' && data !== null ? this.loadedData.get(data) : undefined;
      const created = super.createSession(req, data);
      if (typeof created !== 'object' || created === null) return created;
      if (loaded !== undefined) this.sessions.setBase(created, loaded);
      const reload: unknown = (created as { reload?: unknown }).reload;
      if (this.engine.locking && typeof reload === 'function') {
        // Non-enumerable, as express-session's own methods are: no JSON, hash or save sees it.
        Object.defineProperty(created, 'reload', {
          value: (...args: unknown[]): unknown =>
            this.engine.reloadWith(this.sessions.base(created), () =>
              Reflect.apply(reload, created, args),
            ),
          writable: true,
          configurable: true,
          enumerable: false,
        });
      }
      return created;
    }

    get(sid: string, callback?: Callback<Doc | null>): Promise<Doc | null | undefined> {
      return settle(
        this.engine.load(sid).then((found) => {
          if (found === null) return null;
          const data = found.data;
          // express-session's createSession reads data.cookie.expires: give it a cookie.
          if (typeof data['cookie'] !== 'object' || data['cookie'] === null) data['cookie'] = {};
          this.loadedData.setOnOwn(data, found.loaded);
          return data;
        }),
        callback,
      );
    }

    set(sid: string, session: object, callback?: Callback<void>): Promise<void> {
      return settle(
        this.sessions.inTurn(session, async () => {
          const loaded = this.sessions.base(session);
          const ttlMs = ttlOf(session, this.engine.ttlMs);
          const outcome = await this.engine.save(sid, session, loaded, ttlMs);
          this.sessions.setBase(session, outcome.loaded);
        }),
        callback,
      ) as Promise<void>;
    }

    touch(sid: string, session: object, callback?: Callback<void>): Promise<void> {
      return settle(
        this.sessions.inTurn(session, async () => {
          const loaded = this.sessions.base(session);
          const next = await this.engine.touch(sid, loaded, ttlOf(session, this.engine.ttlMs));
          if (next !== undefined) this.sessions.setBase(session, next);
        }),
        callback,
      ) as Promise<void>;
    }

    destroy(sid: string, callback?: Callback<void>): Promise<void> {
      return settle(this.engine.destroy(sid), callback) as Promise<void>;
    }

    all(callback?: Callback<Doc[]>): Promise<Doc[] | undefined> {
      return settle(this.engine.all(), callback);
    }

    ids(callback?: Callback<string[]>): Promise<string[] | undefined> {
      return settle(this.engine.ids(), callback);
    }

    length(callback?: Callback<number>): Promise<number | undefined> {
      return settle(this.engine.length(), callback);
    }

    clear(callback?: Callback<void>): Promise<void> {
      return settle(this.engine.clear(), callback) as Promise<void>;
    }

    async unlock(session: object): Promise<void> {
      checkUnlockArgument(session);
      await this.engine.unlock(this.sessions.base(session) ?? this.loadedData.get(session));
    }

    close(): void {
      this.engine.close();
    }
  }

  return new StatehouseExpressStore() as unknown as InstanceType<C> & ExpressStoreMethods;
}
