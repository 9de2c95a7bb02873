/**
 * A small shop on Express whose sessions live in Statehouse (the express-session store).
 *
 * Run several instances against one cluster and put them behind any load balancer (or just
 * open two ports): a user's login, cart and order history follow them from web server to web
 * server, and concurrent requests never lose a cart change (cart.ts says why). Every page
 * says which web server answered and which state node is primary for the session.
 *
 *   node --import tsx examples/shop/server.ts --port 8081 --name web-1 \
 *        --seeds 127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403
 *
 * As a library (the test, a benchmark): `createShop({ seeds | client [+ store] | store, name, port })`
 * resolves to `{ url, name, port, close() }`. `store` runs the same app on another
 * express-session store (bench/http.ts compares it on connect-redis with this one on Statehouse).
 */
import { createServer, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import express, { type NextFunction, type Request, type Response } from 'express';
import session, { type Store } from 'express-session';
import { connect, type Client } from '../../src/client/index.js';
import { partitionOf } from '../../src/core/keys.js';
import { createExpressStore } from '../../src/session/express.js';
import { productById } from './catalogue.js';
import {
  linesOf,
  orderNumberOf,
  totalCents,
  unitCount,
  withOneMore,
  withQuantity,
  quantityOf,
} from './cart.js';
import {
  cartPage,
  errorPage,
  loginPage,
  ordersPage,
  ordersByTime,
  productsPage,
  type Order,
  type PageContext,
  type Served,
} from './pages.js';

declare module 'express-session' {
  interface SessionData {
    user: string;
    /** One distinct element per unit, `productId:nonce` (cart.ts). */
    cart: string[];
    /**
     * Orders by number: a new order sets one key, so a checkout submitted twice at once, which
     * derives the same number twice (cart.ts), is one order after the merge.
     */
    orders: Record<string, Order>;
  }
}

/** The store's key prefix: a session lives at `sessionPrefix + sessionID`. */
export const sessionPrefix = 'shop:sess:';
const cookieName = 'shop.sid';

export interface ShopOptions {
  /** Node addresses to connect to; the shop then owns (and closes) its client. */
  seeds?: string | readonly string[];
  /** A connected client to use instead; the shop never closes it. */
  client?: Client;
  /**
   * Another express-session store to keep the sessions in instead of Statehouse (connect-redis
   * for the benchmark's comparison, MemoryStore for a test); the shop never closes it. Pages
   * then name no primary node, and concurrent requests keep only what that store keeps.
   * Given with `client`: a Statehouse store on that client, built by the caller (the
   * benchmark builds it from the compiled package).
   */
  store?: Store;
  /** This web server's name, shown on every page. Default `web-<port>`. */
  name?: string;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Cookie-signing secret; every instance behind one load balancer needs the same. */
  secret?: string;
}

export interface Shop {
  readonly url: string;
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

function servedBy(req: Request, client: Client | null, name: string, port: number): Served {
  const key = sessionPrefix + req.sessionID;
  if (client === null) {
    return {
      server: { name, port },
      state: { key, partitionCount: 0, partition: null, primary: null },
    };
  }
  const partitionCount = client.limits.partitionCount;
  return {
    server: { name, port },
    state: {
      key,
      partitionCount,
      partition: partitionCount > 0 ? partitionOf(key, partitionCount) : null,
      primary: client.primaryOf(key),
    },
  };
}

/**
 * The name to keep: at most 40 UTF-16 units (the form's maxlength), cut between code points,
 * since half a surrogate pair makes `encodeURIComponent` throw. A lone surrogate sent as such
 * (JSON allows `"\ud83d"`) is refused the same way an empty name is.
 */
function nameOf(raw: string): string {
  let name = raw.trim().slice(0, 40);
  if (/[\ud800-\udbff]$/.test(name)) name = name.slice(0, -1);
  return /\p{Cs}/u.test(name) ? '' : name.trim();
}

/**
 * The session store failed (it could not load, save or destroy a session): the error handler
 * answers 503, which says "try again", where any other error is the shop's own, a 500.
 */
class SessionUnavailable extends Error {
  constructor(cause?: unknown) {
    super('sessions are unavailable', { cause });
  }
}

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.regenerate((error: unknown) =>
      error ? reject(new SessionUnavailable(error)) : resolve(),
    ),
  );
}

function destroy(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.destroy((error: unknown) =>
      error ? reject(new SessionUnavailable(error)) : resolve(),
    ),
  );
}

/** The request's session: none when the store is disconnected (express-session's types omit it). */
function sessionOf(req: Request): Request['session'] | undefined {
  return req.session as Request['session'] | undefined;
}

/** A 4xx that body-parser gives a request it cannot read (bad JSON, too large); else null. */
function clientErrorStatus(error: unknown): number | null {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : null;
}

/** The shop's sessions: a Statehouse client and its store, or a store of another kind. */
interface Sessions {
  readonly store: Store;
  /** Null when the sessions live in another store. */
  readonly client: Client | null;
  close(): Promise<void>;
}

async function openSessions(options: ShopOptions): Promise<Sessions> {
  const given = [options.seeds, options.client ?? options.store].filter((o) => o !== undefined);
  if (given.length !== 1) {
    throw new TypeError(
      'createShop: pass `seeds`, or `client`, or `store`, or `client` with a store built on it',
    );
  }
  if (options.store !== undefined) {
    return { store: options.store, client: options.client ?? null, close: async () => undefined };
  }
  const ownsClient = options.client === undefined;
  const client = options.client ?? (await connect({ seeds: options.seeds!, name: 'shop' }));
  const store = createExpressStore(session, { client, prefix: sessionPrefix });
  return {
    store,
    client,
    close: async () => {
      store.close();
      if (ownsClient) await client.close();
    },
  };
}

export async function createShop(options: ShopOptions): Promise<Shop> {
  const { store, client, close: closeSessions } = await openSessions(options);
  const host = options.host ?? '127.0.0.1';

  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false, limit: '4kb' }));
  app.use(express.json({ limit: '4kb' }));
  const sessions = session({
    name: cookieName,
    store,
    secret: options.secret ?? 'statehouse shop demo secret',
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 30 * 60_000, httpOnly: true, sameSite: 'lax' },
  });
  // Every error express-session passes on is its store's (a load, save, touch or destroy that
  // failed), whatever kind of store it is: marked here, where that is still known.
  app.use((req, res, next) =>
    sessions(req, res, (error?: unknown) =>
      next(error === undefined || error === null ? undefined : new SessionUnavailable(error)),
    ),
  );
  // After a store reports `disconnect` (one failed load is enough), express-session passes
  // requests on with no `req.session` at all until it reports `connect`. Pages that only show
  // the catalogue still answer; those that read or change the session answer 503.
  const needSession = (req: Request, _res: Response, next: NextFunction): void =>
    next(sessionOf(req) === undefined ? new SessionUnavailable() : undefined);
  app.use(['/cart', '/checkout', '/orders', '/api'], needSession);

  // Set once listening (the port may be 0 until then).
  let port = options.port ?? 0;
  let name = options.name ?? '';

  const context = (req: Request, notice?: string): PageContext => ({
    user: sessionOf(req)?.user ?? null,
    cartUnits: unitCount(sessionOf(req)?.cart ?? []),
    served: servedBy(req, client, name, port),
    ...(notice === undefined ? {} : { notice }),
  });
  const html = (res: Response, page: string, status = 200): void => {
    res.status(status).type('html').send(page);
  };
  /**
   * The cart before a change. A session's first write creates `cart` as an empty array and
   * `orders` as an empty object, so that later changes are element adds and removes, or sets
   * of one order's key, which merge; two overlapping requests that each created the field
   * would be two sets of one field, and one would win.
   */
  const cartOf = (req: Request): string[] => {
    req.session.cart ??= [];
    req.session.orders ??= {};
    return req.session.cart;
  };
  const noticeOf = (req: Request): string | undefined => {
    const value = req.query['notice'];
    return typeof value === 'string' ? value.slice(0, 200) : undefined;
  };

  app.get('/', (req, res) => html(res, productsPage(context(req, noticeOf(req)))));

  app.get('/cart', (req, res) =>
    html(res, cartPage(context(req, noticeOf(req)), req.session.cart ?? [])),
  );

  app.post('/cart/add', (req, res) => {
    const product = productById(req.body?.productId);
    if (product === undefined)
      return html(res, productsPage(context(req, 'No such product.')), 400);
    const next = withOneMore(cartOf(req), product.id);
    if (next === null) return res.redirect(303, '/cart?notice=That is as many as we sell at once.');
    req.session.cart = next;
    res.redirect(303, `/?notice=${encodeURIComponent(`${product.name} added to your cart.`)}`);
  });

  app.post('/cart/update', (req, res) => {
    const product = productById(req.body?.productId);
    const quantity = Number(req.body?.quantity);
    if (product === undefined || !Number.isFinite(quantity)) {
      return html(res, cartPage(context(req, 'Invalid quantity.'), req.session.cart ?? []), 400);
    }
    req.session.cart = withQuantity(cartOf(req), product.id, quantity);
    res.redirect(303, '/cart');
  });

  app.post('/cart/remove', (req, res) => {
    const product = productById(req.body?.productId);
    if (product !== undefined) req.session.cart = withQuantity(cartOf(req), product.id, 0);
    res.redirect(303, '/cart');
  });

  app.post('/checkout', (req, res) => {
    const cart = cartOf(req);
    const lines = linesOf(cart);
    if (lines.length === 0) return res.redirect(303, '/cart?notice=Your cart is empty.');
    const order: Order = {
      number: orderNumberOf(cart, Object.keys(req.session.orders ?? {})),
      placedAt: new Date().toISOString(),
      lines: lines.map(({ product, quantity }) => ({
        productId: product.id,
        name: product.name,
        quantity,
        unitPriceCents: product.priceCents,
      })),
      totalCents: totalCents(lines),
    };
    // Both merge: the ordered units are removed (a unit added meanwhile stays in the cart),
    // and the order is set under its own key of the history.
    req.session.cart = [];
    req.session.orders = { ...req.session.orders, [order.number]: order };
    res.redirect(303, `/orders?placed=${encodeURIComponent(order.number)}`);
  });

  app.get('/orders', (req, res) => {
    const placed = typeof req.query['placed'] === 'string' ? req.query['placed'] : null;
    html(res, ordersPage(context(req, noticeOf(req)), ordersByTime(req.session.orders), placed));
  });

  app.get('/login', (req, res) => html(res, loginPage(context(req))));

  app.post('/login', needSession, async (req, res) => {
    const raw: unknown = req.body?.name;
    const user = typeof raw === 'string' ? nameOf(raw) : '';
    if (user === '') return html(res, loginPage(context(req, 'Please give a name.')), 400);
    // A new session id at login (no session fixation); the cart and orders come along.
    const cart = req.session.cart ?? [];
    const orders = req.session.orders ?? {};
    await regenerate(req);
    Object.assign(req.session, { user, cart, orders });
    res.redirect(303, `/?notice=${encodeURIComponent(`Welcome, ${user}.`)}`);
  });

  app.post('/logout', needSession, async (req, res) => {
    await destroy(req);
    res.clearCookie(cookieName);
    res.redirect(303, '/?notice=You are logged out.');
  });

  /** JSON: add one unit of `productId`. Used by the test and the load benchmark. */
  app.post('/api/cart/add', (req, res) => {
    const product = productById(req.body?.productId);
    if (product === undefined) return void res.status(400).json({ error: 'unknown productId' });
    const next = withOneMore(cartOf(req), product.id);
    if (next === null) return void res.status(409).json({ error: 'maximum quantity reached' });
    req.session.cart = next;
    res.json({
      productId: product.id,
      // As this request saw it: overlapping adds are merged by the store, not counted here.
      quantity: quantityOf(next, product.id),
      served: servedBy(req, client, name, port),
    });
  });

  /**
   * JSON: set the quantity of `productId` (0 removes the line). With /api/cart/add, the load
   * benchmark's cycle: add one, set back to one, so that the session keeps its size.
   */
  app.post('/api/cart/update', (req, res) => {
    const product = productById(req.body?.productId);
    const quantity: unknown = req.body?.quantity;
    if (product === undefined || typeof quantity !== 'number' || !Number.isFinite(quantity)) {
      return void res.status(400).json({ error: 'want { productId, quantity: number }' });
    }
    const next = withQuantity(cartOf(req), product.id, quantity);
    req.session.cart = next;
    res.json({
      productId: product.id,
      quantity: quantityOf(next, product.id),
      served: servedBy(req, client, name, port),
    });
  });

  /** JSON: the session as this web server sees it. */
  app.get('/api/cart', (req, res) => {
    const cart = req.session.cart ?? [];
    res.json({
      user: req.session.user ?? null,
      items: Object.fromEntries(linesOf(cart).map((l) => [l.product.id, l.quantity])),
      units: unitCount(cart),
      orders: ordersByTime(req.session.orders).map((o) => o.number),
      served: servedBy(req, client, name, port),
    });
  });

  app.use((req, res) => html(res, productsPage(context(req, 'Page not found.')), 404));

  // Without this, Express answers an error with its stack trace (outside production), which
  // shows the server's paths and, for a store error, the session's key.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const unavailable = error instanceof SessionUnavailable;
    const status = unavailable ? 503 : (clientErrorStatus(error) ?? 500);
    // The store's messages name the session's key, which is as good as its cookie: its code
    // only. A 500 is a defect of the shop, whose stack belongs in the server's log.
    const cause: unknown = unavailable ? error.cause : error;
    const { code, stack } = (cause ?? {}) as { code?: unknown; stack?: unknown };
    const detail = unavailable
      ? String(code ?? (cause === undefined ? 'store disconnected' : 'store error'))
      : String(stack ?? cause);
    console.error(`${name}: ${req.method} ${req.path}: ${status}: ${detail}`);
    // A save fails after express-session has sent the headers; the response is ending.
    if (res.headersSent) return;
    const message = unavailable
      ? 'sessions are unavailable, try again'
      : status === 500
        ? 'something went wrong'
        : 'the request could not be read';
    if (unavailable) res.set('retry-after', '5');
    if (req.path.startsWith('/api/')) res.status(status).json({ error: message });
    else html(res, errorPage(status, message), status);
  });

  const server: Server = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await closeSessions();
    throw error;
  }
  port = (server.address() as { port: number }).port;
  name = options.name ?? `web-${port}`;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    name,
    port,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        });
        await closeSessions();
      })()),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      seeds: { type: 'string' },
      name: { type: 'string' },
      host: { type: 'string' },
    },
  });
  const seeds = (
    values.seeds ??
    process.env['STATEHOUSE_SEEDS'] ??
    '127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403'
  )
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const port = Number(values.port ?? process.env['PORT'] ?? 8081);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`bad port ${port}`);
  const shop = await createShop({
    seeds,
    port,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...((values.name ?? process.env['SHOP_NAME']) === undefined
      ? {}
      : { name: (values.name ?? process.env['SHOP_NAME'])! }),
    ...(process.env['SHOP_SECRET'] === undefined ? {} : { secret: process.env['SHOP_SECRET'] }),
  });
  console.log(`${shop.name}: shop on ${shop.url}, sessions in Statehouse at ${seeds.join(', ')}`);
  const stop = (): void => {
    void shop.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
