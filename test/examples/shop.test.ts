/**
 * examples/shop end to end: a three-node cluster in this process, two shop instances (two web
 * servers), and one browser whose requests alternate between them, as behind a round-robin
 * load balancer. Login, cart changes, 20 concurrent adds that must all survive, checkout,
 * logout; every page names the web server that answered and the session's primary node.
 * Then what a user hits when two of their requests overlap: those are made to overlap for
 * certain by holding the store's `get` answers until both requests have loaded the session
 * (what a double click, or two tabs sending within one round trip, does anyway).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import session from 'express-session';
import { connect, type Client } from '../../src/client/index.js';
import { createExpressStore } from '../../src/session/express.js';
import { createShop, sessionPrefix, type Shop } from '../../examples/shop/server.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';

interface Reply {
  status: number;
  location: string | null;
  text: string;
  served: string;
}

interface CartView {
  user: string | null;
  items: Record<string, number>;
  units: number;
  orders: string[];
  served: {
    server: { name: string; port: number };
    state: { key: string; primary: string | null };
  };
}

/** One user: keeps the cookie, sends each request to the next web server in turn. */
class Browser {
  cookie: string | null = null;
  private next = 0;

  constructor(private readonly shops: readonly Shop[]) {}

  async send(method: string, path: string, body?: Record<string, string>): Promise<Reply> {
    const shop = this.shops[this.next++ % this.shops.length]!;
    return this.sendTo(shop, method, path, body && new URLSearchParams(body).toString());
  }

  async sendTo(
    shop: Shop,
    method: string,
    path: string,
    body?: string,
    type = 'application/x-www-form-urlencoded',
  ): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (this.cookie !== null) headers['cookie'] = this.cookie;
    if (body !== undefined) headers['content-type'] = type;
    const response = await fetch(shop.url + path, {
      method,
      headers,
      redirect: 'manual',
      ...(body === undefined ? {} : { body }),
    });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie !== null) {
      const pair = setCookie.split(';')[0]!;
      // clearCookie sends an empty value: the browser forgets the cookie.
      this.cookie = pair.endsWith('=') ? null : pair;
    }
    return {
      status: response.status,
      location: response.headers.get('location'),
      text: await response.text(),
      served: shop.name,
    };
  }

  async cart(): Promise<CartView> {
    const reply = await this.send('GET', '/api/cart');
    assert.equal(reply.status, 200);
    return JSON.parse(reply.text) as CartView;
  }

  get sessionId(): string | null {
    if (this.cookie === null) return null;
    const value = decodeURIComponent(this.cookie.slice(this.cookie.indexOf('=') + 1));
    const unsigned = value.startsWith('s:') ? value.slice(2) : value;
    return unsigned.slice(0, unsigned.lastIndexOf('.'));
  }
}

function attribute(html: string, name: string): string | null {
  return new RegExp(`<[^>]*\\b${name}\\b[^>]*>([^<]*)<`).exec(html)?.[1] ?? null;
}

test('two shop web servers share login, cart, orders and logout through Statehouse', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  await eventually('placement settled', () => converged(nodes[0]!, 3));
  const addresses = nodes.map((n) => n.address);
  const client = await connect({ seeds: addresses });
  const shops: Shop[] = [];
  // Closed here, before the after hook of startCluster stops the nodes (hooks run in order).
  try {
    shops.push(await createShop({ seeds: addresses, name: 'web-a' }));
    shops.push(await createShop({ seeds: addresses, name: 'web-b' }));
    await shopFlow(shops, client, addresses);
  } finally {
    await Promise.all(shops.map((s) => s.close()));
    await client.close();
  }
});

async function shopFlow(shops: Shop[], client: Client, addresses: string[]): Promise<void> {
  const [a] = shops as [Shop, Shop];
  const browser = new Browser(shops);

  // Every page names the web server that answered and a primary node of the cluster.
  for (const [i, path] of ['/', '/', '/cart', '/login', '/orders'].entries()) {
    const shop = shops[i % 2]!;
    const page = await browser.sendTo(shop, 'GET', path);
    assert.equal(page.status, 200, path);
    assert.equal(attribute(page.text, 'data-web-server'), shop.name, path);
    assert.ok(addresses.includes(attribute(page.text, 'data-primary')!), `${path}: a node address`);
    assert.equal(browser.cookie, null, 'browsing without a change stores no session');
  }

  // Log in on one server; the other knows the user.
  const login = await browser.send('POST', '/login', { name: 'Ada <admin>' });
  assert.equal(login.status, 303);
  assert.ok(browser.cookie !== null, 'login sets the session cookie');
  const home = await browser.send('GET', '/');
  assert.equal(attribute(home.text, 'data-user'), 'Ada &lt;admin&gt;', 'escaped');
  let cart = await browser.cart();
  assert.equal(cart.user, 'Ada <admin>');
  assert.deepEqual(cart.items, {});

  // The session's primary, as the pages show it, is the one the client's table names.
  const key = sessionPrefix + browser.sessionId!;
  assert.equal(cart.served.state.key, key);
  assert.equal(cart.served.state.primary, client.primaryOf(key));
  assert.ok(addresses.includes(cart.served.state.primary ?? ''));

  // Add, change a quantity, remove: each on whichever server is next.
  for (const productId of ['tea', 'mug', 'mug']) {
    const added = await browser.send('POST', '/cart/add', { productId });
    assert.equal(added.status, 303);
  }
  const cartPage = await browser.send('GET', '/cart');
  assert.equal(attribute(cartPage.text, 'data-cart-units'), '3');
  assert.equal(attribute(cartPage.text, 'data-primary'), client.primaryOf(key));
  assert.deepEqual((await browser.cart()).items, { tea: 1, mug: 2 });
  await browser.send('POST', '/cart/update', { productId: 'mug', quantity: '5' });
  assert.deepEqual((await browser.cart()).items, { tea: 1, mug: 5 });
  await browser.send('POST', '/cart/update', { productId: 'mug', quantity: '3' });
  await browser.send('POST', '/cart/remove', { productId: 'tea' });
  assert.deepEqual((await browser.cart()).items, { mug: 3 });
  assert.equal((await browser.send('POST', '/cart/add', { productId: 'nope' })).status, 400);

  // 20 concurrent adds, alternating between the two servers: every one survives.
  const adds = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      browser.sendTo(
        shops[i % 2]!,
        'POST',
        '/api/cart/add',
        JSON.stringify({ productId: i % 4 === 0 ? 'kettle' : 'coffee' }),
        'application/json',
      ),
    ),
  );
  for (const reply of adds) {
    assert.equal(reply.status, 200, reply.text);
    const body = JSON.parse(reply.text) as CartView;
    assert.equal(body.served.server.name, reply.served);
    assert.equal(body.served.state.primary, client.primaryOf(key));
  }
  cart = await browser.cart();
  assert.deepEqual(cart.items, { coffee: 15, kettle: 5, mug: 3 });
  assert.equal(cart.units, 23);

  // Checkout empties the cart and keeps the order number in the session's history.
  const checkout = await browser.send('POST', '/checkout');
  assert.equal(checkout.status, 303);
  const placed = new URL(checkout.location!, a.url).searchParams.get('placed')!;
  assert.match(placed, /^SH-/);
  const confirmation = await browser.send('GET', checkout.location!);
  assert.equal(attribute(confirmation.text, 'data-order-number'), placed);
  cart = await browser.cart();
  assert.deepEqual(cart.items, {});
  assert.deepEqual(cart.orders, [placed]);
  const orders = await browser.send('GET', '/orders');
  assert.ok(orders.text.includes(`data-order="${placed}"`));
  assert.equal(attribute(orders.text, 'data-cart-units'), '0');

  // Logout destroys the session in the store; the next request is a stranger.
  assert.notEqual(await client.get(key), null);
  const logout = await browser.send('POST', '/logout');
  assert.equal(logout.status, 303);
  assert.equal(browser.cookie, null);
  assert.equal(await client.get(key), null);
  cart = await browser.cart();
  assert.equal(cart.user, null);
  assert.deepEqual(cart.orders, []);
}

test('createShop refuses no session source, and seeds together with a store', async () => {
  await assert.rejects(createShop({ name: 'x' }), TypeError);
  await assert.rejects(
    createShop({ seeds: '127.0.0.1:1', store: new session.MemoryStore() }),
    TypeError,
  );
});

test('the same shop runs on another express-session store, and names no primary node', async () => {
  const shop = await createShop({ store: new session.MemoryStore(), name: 'web-memory' });
  try {
    const browser = new Browser([shop]);
    const login = await browser.send('POST', '/login', { name: 'Grace' });
    assert.equal(login.status, 303);
    assert.ok(browser.cookie !== null);
    const add = (productId: string): Promise<Reply> =>
      browser.sendTo(
        shop,
        'POST',
        '/api/cart/add',
        JSON.stringify({ productId }),
        'application/json',
      );
    assert.equal((await add('tea')).status, 200);
    assert.equal((await add('tea')).status, 200);
    const update = await browser.sendTo(
      shop,
      'POST',
      '/api/cart/update',
      JSON.stringify({ productId: 'tea', quantity: 1 }),
      'application/json',
    );
    assert.equal(update.status, 200, update.text);
    assert.equal((JSON.parse(update.text) as { quantity: number }).quantity, 1);
    const bad = await browser.sendTo(
      shop,
      'POST',
      '/api/cart/update',
      JSON.stringify({ productId: 'tea', quantity: 'many' }),
      'application/json',
    );
    assert.equal(bad.status, 400);
    const cart = await browser.cart();
    assert.equal(cart.user, 'Grace');
    assert.deepEqual(cart.items, { tea: 1 });
    assert.equal(cart.served.state.primary, null);
    const home = await browser.send('GET', '/');
    assert.equal(attribute(home.text, 'data-primary'), 'unknown');
  } finally {
    await shop.close();
  }
});

/**
 * A shop on a one-node cluster whose store's `get` answers can be held until `n` requests
 * have loaded their session: `overlap(n)` arms it for the next `n` loads.
 */
async function overlappingShop(t: { after: (fn: () => Promise<void>) => void }): Promise<{
  shop: Shop;
  browser: Browser;
  overlap: (n: number) => void;
  close: () => Promise<void>;
}> {
  const nodes = await startCluster(t, 1, { partitions: 8, replicationFactor: 1 });
  await eventually('placement settled', () => converged(nodes[0]!, 1));
  const client = await connect({ seeds: [nodes[0]!.address] });
  const store = createExpressStore(session, { client, prefix: sessionPrefix });
  let want = 0;
  let held: (() => void)[] = [];
  const get = store.get.bind(store);
  (store as unknown as { get: unknown }).get = (
    sid: string,
    callback: (e: unknown, d: unknown) => void,
  ) =>
    get(sid, (error, data) => {
      if (want === 0) return callback(error, data);
      held.push(() => callback(error, data));
      if (held.length >= want) {
        const release = held;
        held = [];
        want = 0;
        for (const go of release) go();
      }
    });
  const shop = await createShop({ client, store, name: 'web-overlap' });
  return {
    shop,
    browser: new Browser([shop]),
    overlap: (n) => {
      want = n;
    },
    close: async () => {
      await shop.close();
      store.close();
      await client.close();
    },
  };
}

test('a checkout submitted twice at once places one order', async (t) => {
  const { browser, overlap, close } = await overlappingShop(t);
  try {
    assert.equal((await browser.send('POST', '/cart/add', { productId: 'kettle' })).status, 303);
    assert.equal((await browser.send('POST', '/cart/add', { productId: 'kettle' })).status, 303);
    overlap(2);
    const [first, second] = await Promise.all([
      browser.send('POST', '/checkout'),
      browser.send('POST', '/checkout'),
    ]);
    assert.equal(first.status, 303);
    assert.equal(second.status, 303);
    assert.equal(first.location, second.location, 'both name the same order');
    const cart = await browser.cart();
    assert.deepEqual(cart.items, {});
    assert.equal(cart.orders.length, 1, `orders placed: ${cart.orders.join(', ')}`);
    // A later checkout of other units is another order, listed after the first.
    await browser.send('POST', '/cart/add', { productId: 'kettle' });
    await browser.send('POST', '/checkout');
    const orders = (await browser.cart()).orders;
    assert.equal(orders.length, 2);
    assert.equal(orders[0], cart.orders[0]);
  } finally {
    await close();
  }
});

test('two overlapping "set quantity to 5" requests leave 5', async (t) => {
  const { browser, overlap, close } = await overlappingShop(t);
  try {
    await browser.send('POST', '/cart/update', { productId: 'mug', quantity: '2' });
    assert.deepEqual((await browser.cart()).items, { mug: 2 });
    overlap(2);
    await Promise.all([
      browser.send('POST', '/cart/update', { productId: 'mug', quantity: '5' }),
      browser.send('POST', '/cart/update', { productId: 'mug', quantity: '5' }),
    ]);
    assert.deepEqual((await browser.cart()).items, { mug: 5 });
    // The same units come back after a checkout: ordered again, they are a new order.
    await browser.send('POST', '/checkout');
    for (let i = 0; i < 2; i++) {
      await browser.send('POST', '/cart/update', { productId: 'mug', quantity: '5' });
      await browser.send('POST', '/checkout');
    }
    assert.equal((await browser.cart()).orders.length, 3);
  } finally {
    await close();
  }
});

test('an add to cart that overlaps the login is lost, as the README says', async (t) => {
  const { shop, browser, overlap, close } = await overlappingShop(t);
  try {
    await browser.send('POST', '/cart/add', { productId: 'tea' });
    // Tab 1 logs in while tab 2 adds a kettle with the same, pre-login, cookie: the login
    // destroys the session the add saves to (a new id at login, against session fixation).
    const other = new Browser([shop]);
    other.cookie = browser.cookie;
    overlap(2);
    const [login, add] = await Promise.all([
      browser.send('POST', '/login', { name: 'Ada' }),
      other.sendTo(
        shop,
        'POST',
        '/api/cart/add',
        JSON.stringify({ productId: 'kettle' }),
        'application/json',
      ),
    ]);
    assert.equal(login.status, 303);
    assert.equal(add.status, 200, 'the add was acknowledged');
    const cart = await browser.cart();
    assert.equal(cart.user, 'Ada');
    assert.deepEqual(cart.items, { tea: 1 });
  } finally {
    await close();
  }
});

test('a login name cut to 40 characters keeps a whole emoji or none of it', async () => {
  const shop = await createShop({ store: new session.MemoryStore(), name: 'web-memory' });
  try {
    const browser = new Browser([shop]);
    // 39 letters and an emoji: 41 UTF-16 units, the emoji's two across the cut at 40.
    const reply = await browser.send('POST', '/login', { name: `${'a'.repeat(39)}😀` });
    assert.equal(reply.status, 303, reply.text.slice(0, 300));
    assert.equal((await browser.cart()).user, 'a'.repeat(39));
  } finally {
    await shop.close();
  }
});

/** A shop on a one-node cluster that is stopped once the browser has a session. */
async function shopWithClusterDown(t: {
  after: (fn: () => Promise<void>) => void;
}): Promise<{ shop: Shop; browser: Browser; key: string; close: () => Promise<void> }> {
  const nodes = await startCluster(t, 1, { partitions: 8, replicationFactor: 1 });
  await eventually('placement settled', () => converged(nodes[0]!, 1));
  const client = await connect({ seeds: [nodes[0]!.address], timeoutMs: 1_000 });
  const shop = await createShop({ client, name: 'web-down' });
  const browser = new Browser([shop]);
  assert.equal((await browser.send('POST', '/cart/add', { productId: 'tea' })).status, 303);
  const key = sessionPrefix + browser.sessionId!;
  await nodes[0]!.close();
  return {
    shop,
    browser,
    key,
    close: async () => {
      await shop.close();
      await client.close();
    },
  };
}

const stackTrace = /\bat .*(node_modules|\.ts:\d+)/;

test('with the cluster down, pages answer 503 "try again" without a stack trace or session key', async (t) => {
  const { browser, key, close } = await shopWithClusterDown(t);
  try {
    // A returning user whose session the store cannot load.
    const page = await browser.send('GET', '/cart');
    assert.equal(page.status, 503, page.text);
    assert.match(page.text, /sessions are unavailable, try again/);
    assert.doesNotMatch(page.text, stackTrace);
    assert.ok(!page.text.includes(key), 'the session key');
    const api = await browser.send('GET', '/api/cart');
    assert.equal(api.status, 503, api.text);
    const body = JSON.parse(api.text) as { error: string };
    assert.equal(typeof body.error, 'string');
    assert.doesNotMatch(api.text, stackTrace);
  } finally {
    await close();
  }
});

test('with the cluster down, the product list still answers and session pages answer 503', async (t) => {
  const { shop, browser, close } = await shopWithClusterDown(t);
  try {
    // One failed load makes the store report `disconnect`; express-session then gives the
    // next requests no req.session at all.
    assert.equal((await browser.send('GET', '/cart')).status, 503);
    const visitor = new Browser([shop]);
    const home = await visitor.send('GET', '/');
    assert.equal(home.status, 200, home.text);
    assert.equal(attribute(home.text, 'data-cart-units'), '0');
    assert.equal((await visitor.send('GET', '/login')).status, 200);
    for (const [method, path] of [
      ['GET', '/cart'],
      ['GET', '/orders'],
      ['POST', '/checkout'],
      ['POST', '/login'],
      ['GET', '/api/cart'],
    ] as const) {
      const reply = await browser.send(
        method,
        path,
        method === 'POST' ? { name: 'Ada' } : undefined,
      );
      assert.equal(reply.status, 503, `${method} ${path}: ${reply.text.slice(0, 200)}`);
      assert.doesNotMatch(reply.text, /TypeError/);
    }
  } finally {
    await close();
  }
});
