/**
 * A store for @fastify/session (`statehouse/fastify`) that never loses an update.
 *
 *   import fastifyCookie from '@fastify/cookie';
 *   import fastifySession from '@fastify/session';
 *   import { connect } from 'statehouse';
 *   import { createFastifyStore } from 'statehouse/fastify';
 *
 *   const client = await connect({ seeds: ['10.0.0.1:7400'] });
 *   await app.register(fastifyCookie);
 *   await app.register(fastifySession, { secret, store: createFastifyStore({ client }),
 *                                        cookie: { maxAge: 30 * 60_000 } });
 *
 * @fastify/session asks a store for three methods with callbacks: get, set, destroy. It never
 * calls touch, and with `rolling: false` it saves only modified sessions, so this store keeps
 * the expiry sliding itself: a `get` that finds `touchAfter` of the TTL gone refreshes it
 * (one touch, rarely). TTL: the time left until `cookie.expires`, else `cookie.originalMaxAge`,
 * else `ttlMs`.
 *
 * How a save finds what its request loaded (merge.ts needs it). @fastify/session builds its
 * `Session` from what `get` returned by copying every enumerable field (`for ... in`), and
 * later passes that Session to `set`; there is no hook in between (it offers no
 * createSession). So the data `get` returns carries one more field, `__statehouseLoaded`,
 * whose value is an opaque token: it is copied into the Session with the rest, and `set`
 * finds in it the document that request loaded (only in a token this store made). The token's
 * `toJSON` returns undefined, so it is left out of JSON, of @fastify/session's hash that
 * decides whether the session was modified, and of what is stored; the store also drops it
 * before calling a custom serializer. An application that lists the session's keys sees it;
 * nothing else does. A Session without a token (new, or regenerated) is written with
 * ifAbsent. With `lock`, the data carries `reload` too, copied into the Session the same way,
 * where it shadows the framework's reload and runs it under the lock the request holds (the
 * framework's reload calls `get` with the id only, which would otherwise wait for that lock).
 *
 * The lock (`lock: true`) is released by the request's save or destroy. @fastify/session
 * saves every request under `rolling: true` (its default); with `rolling: false` an
 * unmodified session is not saved, so call `store.unlock(request.session)` in an `onResponse`
 * hook, or the lock is renewed until `lock.holdMsMax` and then expires. The unlock releases
 * that request's lock only, and only if its save has not already: by then this process may
 * hold the session's lock for the next request.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, StatehouseError } from '../core/errors.js';
import { settle, type Callback } from './callbacks.js';
import {
  checkUnlockArgument,
  SessionEngine,
  type Loaded,
  type SessionStoreOptions,
} from './engine.js';
import { isPlainObject, type Doc } from './merge.js';
import { SessionLinks } from './session-links.js';

export type { SessionStoreOptions, Serializer, LockOptions } from './engine.js';
export { SessionLockLostError, SessionLockTimeoutError } from './engine.js';

/** The field that carries the load token from `get` into the framework's Session. */
export const loadedField = '__statehouseLoaded';

/**
 * The field that carries, with `lock`, the store's `reload` into the framework's Session, where
 * it shadows @fastify/session's own (see `reloadUnderLock`).
 */
const reloadField = 'reload';

/** An opaque token: invisible to JSON, unique per load. */
class LoadToken {
  readonly #owner: FastifySessionStore;
  readonly #loaded: Loaded;

  constructor(owner: FastifySessionStore, loaded: Loaded) {
    this.#owner = owner;
    this.#loaded = loaded;
  }

  /** What the load behind this token loaded, if `store` made it. */
  loadedFor(store: FastifySessionStore): Loaded | undefined {
    return this.#owner === store ? this.#loaded : undefined;
  }

  toJSON(): undefined {
    return undefined;
  }
}

interface CookieLike {
  expires?: unknown;
  originalMaxAge?: unknown;
}

function ttlOf(cookie: CookieLike | undefined, ttlMsDefault: number): number {
  const expires = cookie?.expires;
  if (expires instanceof Date || typeof expires === 'string') {
    const at = new Date(expires).getTime();
    if (Number.isFinite(at)) return at - Date.now();
  }
  const maxAge = cookie?.originalMaxAge;
  if (typeof maxAge === 'number' && maxAge > 0) return maxAge;
  return ttlMsDefault;
}

export class FastifySessionStore extends EventEmitter {
  readonly engine: SessionEngine;
  /** What each Session last saved, and its saves: one at a time, each from where the last ended. */
  private readonly sessions = new SessionLinks();
  /** With `lock`: the Session's `reload`, the framework's own run under the request's lock. */
  private readonly reloadUnderLock: (this: object, ...args: unknown[]) => unknown;

  constructor(options: SessionStoreOptions) {
    super();
    this.engine = new SessionEngine(options, this);
    const engine = this.engine;
    const loadedOf = (session: object): Loaded | undefined => this.loadedOf(session);
    this.reloadUnderLock = function reload(this: object, ...args: unknown[]): unknown {
      const own: unknown = (Object.getPrototypeOf(this) as { reload?: unknown } | null)?.reload;
      if (typeof own !== 'function') {
        throw new StatehouseError(ErrorCode.BAD_REQUEST, 'this session has no reload to run');
      }
      return engine.reloadWith(loadedOf(this), () => Reflect.apply(own, this, args));
    };
  }

  /** Whether the last call reached the cluster. */
  get connected(): boolean {
    return this.engine.isConnected;
  }

  /**
   * The callback's value is typed `never` only so that @fastify/session's `SessionStore` type
   * (whose callback wants its own Session type) accepts this store; it is the stored data.
   */
  get(
    sessionId: string,
    callback?: (error: unknown, session?: never) => void,
  ): Promise<Doc | null | undefined> {
    return settle(this.load(sessionId), callback as Callback<Doc | null> | undefined);
  }

  private async load(sessionId: string): Promise<Doc | null> {
    const found = await this.engine.load(sessionId);
    if (found === null) return null;
    // @fastify/session copies the data into its Session by assignment, where a `__proto__`
    // field would become the Session's prototype. It cannot be a field of the Session, so it
    // is left out, as express-session leaves it out, and the next save unsets it.
    if (Object.hasOwn(found.data, '__proto__')) delete found.data['__proto__'];
    const cookie = found.data['cookie'];
    const loaded = await this.engine.slide(
      sessionId,
      found.loaded,
      ttlOf(
        isPlainObject(cookie) ? { originalMaxAge: cookie['originalMaxAge'] } : undefined,
        this.engine.ttlMs,
      ),
    );
    found.data[loadedField] = new LoadToken(this, loaded);
    // @fastify/session's reload calls get with the id only, and offers no hook to reach the
    // Session first: a field of the data is copied into the Session with the rest, and there
    // shadows the framework's reload (a function: JSON and the modified-check skip it). A
    // session holding a field of that name keeps it.
    if (this.engine.locking && !Object.hasOwn(found.data, reloadField)) {
      found.data[reloadField] = this.reloadUnderLock;
    }
    return found.data;
  }

  /** What the request of this Session (or of the data `get` returned) loaded or last saved. */
  private loadedOf(session: object): Loaded | undefined {
    const token = (session as Record<string, unknown>)[loadedField];
    return (
      this.sessions.base(session) ??
      (token instanceof LoadToken ? token.loadedFor(this) : undefined)
    );
  }

  set(sessionId: string, session: object, callback?: Callback<void>): Promise<void> {
    return settle(
      this.sessions.inTurn(session, () => this.save(sessionId, session)),
      callback,
    ) as Promise<void>;
  }

  private async save(sessionId: string, session: object): Promise<void> {
    const fields = session as Record<string, unknown>;
    const loaded = this.loadedOf(session);
    const plain: Doc = {};
    for (const key of Object.keys(fields)) {
      if (key === loadedField) continue;
      if (key === reloadField && fields[key] === this.reloadUnderLock) continue;
      plain[key] = fields[key];
    }
    const outcome = await this.engine.save(
      sessionId,
      plain,
      loaded,
      ttlOf(fields['cookie'] as CookieLike | undefined, this.engine.ttlMs),
    );
    this.sessions.setBase(session, outcome.loaded);
  }

  destroy(sessionId: string, callback?: Callback<void>): Promise<void> {
    return settle(this.engine.destroy(sessionId), callback) as Promise<void>;
  }

  /** Every live session with its id (needs `index: true`). */
  all(callback?: Callback<Doc[]>): Promise<Doc[] | undefined> {
    return settle(this.engine.all(), callback);
  }

  /** The ids of every live session (needs `index: true`). */
  ids(callback?: Callback<string[]>): Promise<string[] | undefined> {
    return settle(this.engine.ids(), callback);
  }

  /** How many live sessions there are (needs `index: true`). */
  length(callback?: Callback<number>): Promise<number | undefined> {
    return settle(this.engine.length(), callback);
  }

  /** Deletes every session (needs `index: true`). */
  clear(callback?: Callback<void>): Promise<void> {
    return settle(this.engine.clear(), callback) as Promise<void>;
  }

  /**
   * Releases the lock of the request whose session this is (`request.session`), if that
   * request still holds it: for `rolling: false`, in an `onResponse` hook.
   */
  async unlock(session: object): Promise<void> {
    checkUnlockArgument(session);
    await this.engine.unlock(this.loadedOf(session));
  }

  /** Stops the reachability probe; the client stays open. */
  close(): void {
    this.engine.close();
  }
}

/** A Statehouse store for @fastify/session. */
export function createFastifyStore(options: SessionStoreOptions): FastifySessionStore {
  return new FastifySessionStore(options);
}
