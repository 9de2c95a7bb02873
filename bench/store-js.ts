/**
 * `npm run bench:store-js`: the JavaScript one session load-and-save costs a web server, with
 * no network and no server: what `npm run bench:store` measures, minus the sockets.
 *
 * Both stores run express-session's cycle in one process, on one thread, as fast as they can:
 * the store's `get`, `createSession`, one cart unit added, the Session touched as
 * express-session does at the end of every response (its cookie's expiry moves on), the
 * store's `set`; 64 sessions, their cycles interleaved. Every get finds the same stored
 * session (a cart of one unit), so that every save has the same change to write: one unit
 * and the cookie. What answers them:
 *  - Statehouse: the express-session store and the client as they ship (dist/), over a stub
 *    connection. The client encodes each request as it would for the socket (the real
 *    encoder), and the stub answers with a reply frame body made beforehand, which the client
 *    decodes as it would one from the socket (the real decoder): a patch reports a new
 *    version and changes nothing. Left out: the connection's framing, request ids and socket
 *    I/O (`client/node-connection.ts`), measured with the rest by `bench:store` and the HTTP
 *    section.
 *  - connect-redis: its RedisStore over a stub client whose async `get` reads the session's
 *    JSON from a Map and whose `set` changes nothing. Left out: all of node-redis (command
 *    encoding, its queue, RESP parsing, its per-command timeout), so this side is a floor for
 *    connect-redis, not its full cost.
 * The figure is wall time per cycle (one thread, nothing else running, so about its CPU time),
 * the median of --rounds rounds of --seconds (default 7 of 1.5, after a 2 s warm-up) per store.
 *
 * The stub reaches into the client's private seams (its `connection()` and router): if those
 * change, this bench fails with a TypeError rather than measuring something else.
 */
import { parseArgs } from 'node:util';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { loadClient, loadExpressStore, loadProtocol, loadValueCodec } from './built.js';
import {
  changeCart,
  load,
  median,
  sessionMaxAgeMs,
  signedInSession,
  type SessionStore,
} from './session-cycle.js';

const sessionCount = 64;
const stubAddress = '127.0.0.1:1';
const sidOf = (i: number): string => `session-${i}`;

async function statehouseStore(): Promise<SessionStore> {
  const [{ Client }, { createExpressStore }, { encodeOk, decodeReply, Op }, { encodeValue }] =
    await Promise.all([loadClient(), loadExpressStore(), loadProtocol(), loadValueCodec()]);
  const client = new Client({ seeds: [stubAddress] });
  const stored = encodeValue(signedInSession());
  const expiresAt = Date.now() + sessionMaxAgeMs;
  const getReply = encodeOk(1, { value: stored, version: 7, expiresAt });
  const writeReply = encodeOk(1, { version: 8 });
  // A request body is [op, id, fields]: a three-element array, then the op as a small integer.
  const stub = {
    send(encode: (id: number) => Uint8Array): Promise<unknown> {
      const body = encode(1);
      return Promise.resolve(decodeReply(body[1] === Op.get ? getReply : writeReply));
    },
  };
  const seams = client as unknown as {
    connection: () => typeof stub;
    router: { route: () => string };
  };
  seams.connection = () => stub;
  seams.router.route = () => stubAddress;
  return createExpressStore(session, { client, prefix: 'shop:' }) as unknown as SessionStore;
}

function connectRedisStore(): SessionStore {
  const strings = new Map<string, string>();
  const stubClient = {
    get: async (key: string) => strings.get(key) ?? null,
    set: async () => 'OK',
  };
  const store = new RedisStore({ client: stubClient as never, prefix: 'shop:' });
  const text = JSON.stringify(signedInSession());
  for (let i = 0; i < sessionCount; i++) strings.set(`shop:${sidOf(i)}`, text);
  return store as unknown as SessionStore;
}

let unit = 0;

async function cycle(store: SessionStore, sid: string): Promise<void> {
  const data = await load(store, sid);
  if (data === null || data === undefined) throw new Error(`session ${sid} is gone`);
  // A counter, not random bytes: crypto's randomBytes costs several µs on some VMs, the same
  // for both stores, and would only blur the difference.
  await changeCart(store, sid, data, (cart) => [...cart, `tea:u${unit++}`]);
}

/** Wall µs per cycle over `seconds`, all sessions' cycles interleaved. */
async function round(store: SessionStore, seconds: number): Promise<number> {
  let batches = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    await Promise.all(Array.from({ length: sessionCount }, (_, i) => cycle(store, sidOf(i))));
    batches++;
  }
  return ((performance.now() - started) * 1000) / (batches * sessionCount);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      seconds: { type: 'string', default: '1.5' },
    },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error('--rounds must be a positive integer');
  if (!(seconds > 0)) throw new Error('--seconds must be a positive number');
  const stores = { Statehouse: await statehouseStore(), 'connect-redis': connectRedisStore() };
  const results = new Map<string, number[]>();
  for (const [name, store] of Object.entries(stores)) {
    await round(store, 2); // warm-up
    results.set(name, []);
  }
  // Rounds alternate between the stores, so that a change in the machine's speed falls on both.
  for (let r = 0; r < rounds; r++) {
    for (const [name, store] of Object.entries(stores))
      results.get(name)!.push(await round(store, seconds));
  }
  const ours = median(results.get('Statehouse')!);
  const theirs = median(results.get('connect-redis')!);
  console.log(
    [
      `Store JavaScript per load-and-save, no network (${rounds} rounds of ${seconds} s per store, medians):`,
      '',
      '| store | µs per cycle | what answers it |',
      '| --- | ---: | --- |',
      `| Statehouse | ${ours.toFixed(2)} | the client as it ships, over a stub connection (no framing or socket I/O) |`,
      `| connect-redis | ${theirs.toFixed(2)} | a stub client (no node-redis at all) |`,
    ].join('\n'),
  );
}

await main();
