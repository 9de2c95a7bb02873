/**
 * The chaos run's fault proxy (test/chaos/fault-proxy.ts): bytes pass, rules hold or drop
 * them per direction, heal releases what was held, and callers are told apart by the
 * 127.0.0.x they dial from.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { FaultNet, FaultProxy } from './fault-proxy.js';

/** A server behind the proxy on 127.0.0.61, keeping every socket and what each received. */
async function backend(t: TestContext): Promise<{
  port: number;
  sockets: Socket[];
  received: () => string;
}> {
  const sockets: Socket[] = [];
  let text = '';
  const server = createServer((s) => {
    sockets.push(s);
    s.on('data', (d: Buffer) => (text += d));
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.61');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, sockets, received: () => text };
}

async function setup(t: TestContext): Promise<{
  net: FaultNet;
  proxy: FaultProxy;
  server: Awaited<ReturnType<typeof backend>>;
  dial: (localAddress?: string) => Promise<{ socket: Socket; received: () => string }>;
}> {
  const server = await backend(t);
  const net = new FaultNet();
  net.register('127.0.0.61', 'n1');
  net.register('127.0.0.62', 'n2');
  const proxy = await FaultProxy.start({
    net,
    node: 'n1',
    host: '127.0.0.61',
    target: { host: '127.0.0.61', port: server.port },
  });
  t.after(() => proxy.close());
  const dial = async (localAddress?: string) => {
    const socket = connect({
      host: '127.0.0.61',
      port: proxy.port,
      ...(localAddress !== undefined && { localAddress }),
    });
    socket.on('error', () => undefined);
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d));
    const before = server.sockets.length;
    await until(() => server.sockets.length > before);
    return { socket, received: () => text };
  };
  return { net, proxy, server, dial };
}

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

test('bytes pass both ways through the proxy when no rule is set', async (t) => {
  const { server, dial } = await setup(t);
  const c = await dial();
  c.socket.write('ping');
  await until(() => server.received() === 'ping');
  server.sockets[0]!.write('pong');
  await until(() => c.received() === 'pong');
});

test('a connection from a node address is named after the node, any other is a client', async (t) => {
  const { net, server, dial } = await setup(t);
  const c = await dial();
  assert.equal(net.endpointOf(c.socket.localAddress), 'client');
  // A rule for n2 only: the client's bytes flow, n2's are held.
  net.set('n2', 'n1', { kind: 'hold' });
  c.socket.write('from-client;');
  const n2 = await dial('127.0.0.62');
  n2.socket.write('from-n2;');
  await settle();
  assert.equal(server.received(), 'from-client;');
});

test('a hold cut keeps the bytes, and heal delivers them in order', async (t) => {
  const { net, server, dial } = await setup(t);
  const c = await dial();
  net.cut(['client'], ['n1']);
  c.socket.write('a');
  c.socket.write('b');
  server.sockets[0]!.write('x');
  await settle();
  assert.equal(server.received(), '');
  assert.equal(c.received(), '');
  c.socket.write('c');
  net.heal();
  await until(() => server.received() === 'abc' && c.received() === 'x');
});

test('a drop cut closes the connection on its next byte and refuses new ones until healed', async (t) => {
  const { net, proxy, server, dial } = await setup(t);
  const c = await dial();
  net.cut(['client'], ['n1'], { kind: 'drop' });
  c.socket.write('lost');
  await once(c.socket, 'close');
  assert.equal(server.received(), '');
  assert.equal(net.counters.dropped, 1);

  const refused = connect({ host: '127.0.0.61', port: proxy.port });
  refused.on('error', () => undefined);
  await once(refused, 'close');

  net.heal();
  const again = await dial();
  again.socket.write('ok');
  await until(() => server.received() === 'ok');
});

test('a one-way cut stops one direction while the other still flows', async (t) => {
  const { net, server, dial } = await setup(t);
  const c = await dial('127.0.0.62');
  // n1 can no longer reach n2; n2 still reaches n1, on the connection n2 dialled.
  net.cutOneWay(['n1'], ['n2']);
  c.socket.write('to-n1');
  server.sockets[0]!.write('to-n2');
  await until(() => server.received() === 'to-n1');
  await settle();
  assert.equal(c.received(), '');
  net.heal();
  await until(() => c.received() === 'to-n2');
});

test('a delay rule forwards every byte, later and in order', async (t) => {
  const { net, server, dial } = await setup(t);
  const c = await dial();
  net.set('client', 'n1', { kind: 'delay', delayMs: 150 });
  const sent = Date.now();
  c.socket.write('slow');
  await until(() => server.received() === 'slow');
  assert.ok(Date.now() - sent >= 140, `arrived after ${Date.now() - sent} ms`);
});
