/**
 * What the store benches (store-cycle.ts, store-js.ts) share: the store surface
 * express-session uses, its get and set as promises, the session every cycle starts from,
 * and the median they report.
 */

/** The store surface express-session uses, as both stores provide it. */
export interface SessionStore {
  get(sid: string, callback: (error: unknown, data?: unknown) => void): void;
  set(sid: string, data: object, callback: (error?: unknown) => void): void;
  createSession(req: object, data: unknown): unknown;
}

export function load(store: SessionStore, sid: string): Promise<unknown> {
  return new Promise((resolve, reject) =>
    store.get(sid, (error, data) => (error ? reject(error) : resolve(data))),
  );
}

export function save(store: SessionStore, sid: string, data: object): Promise<void> {
  return new Promise((resolve, reject) =>
    store.set(sid, data, (error) => (error ? reject(error) : resolve())),
  );
}

/**
 * The rest of a request that changes its cart, as express-session runs it once `get` gave
 * `data`: the Session made from it, the cart changed, and the request's end (Session#touch,
 * which moves the cookie's expiry on at every response, so every save changes the cookie
 * too, as in the shop; then the store's set).
 */
export async function changeCart(
  store: SessionStore,
  sid: string,
  data: unknown,
  change: (cart: string[]) => string[],
): Promise<void> {
  const req: {
    sessionID: string;
    sessionStore: SessionStore;
    session?: { cart: string[]; touch(): void };
  } = { sessionID: sid, sessionStore: store };
  store.createSession(req, data);
  const session = req.session!;
  session.cart = change(session.cart);
  session.touch();
  await save(store, sid, session);
}

/** How long the sessions' cookies live, as the shop's do. */
export const sessionMaxAgeMs = 30 * 60_000;

/** A signed-in session with one unit in the cart, as the HTTP section's sessions are. */
export function signedInSession(): object {
  return {
    cookie: {
      originalMaxAge: sessionMaxAgeMs,
      expires: new Date(Date.now() + sessionMaxAgeMs).toISOString(),
      httpOnly: true,
      path: '/',
      sameSite: 'lax',
    },
    user: 'alice',
    cart: ['tea:q0'],
    orders: {},
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
