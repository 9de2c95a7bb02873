/**
 * Separate credentials: clients hold `token`, nodes and operators `clusterToken`. A client's
 * token reads and writes data; only the cluster's secret joins a node, links peers, drains or
 * accepts loss. Without a cluster token, the one token does everything, as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { startNode } from '../../src/node/index.js';
import { peerProtocolVersion, type Reply } from '../../src/protocol/index.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { eventually, replicated, startCluster } from '../helpers/cluster.js';

const clientToken = 'client-secret';
const clusterToken = 'cluster-secret';

function refusedUnauthorized(reply: Reply): boolean {
  return !reply.ok && reply.error.code === 'UNAUTHORIZED';
}

test("a client's token reads and writes data, and cannot drain, join or accept loss", async (t) => {
  const node = await startNode({ port: 0, token: clientToken, clusterToken });
  t.after(() => node.close());
  const client = await connect({ seeds: node.address, token: clientToken });
  t.after(() => client.close());
  await client.set('cart', { items: 1 });
  assert.deepEqual(await client.get('cart'), { items: 1 });

  const raw = await RawConnection.ready(node.port, 'web-app', clientToken);
  t.after(() => raw.close());
  raw.request({ kind: 'drain', id: 1 });
  raw.request({ kind: 'acceptLoss', id: 2 });
  raw.request({
    kind: 'join',
    id: 3,
    name: 'intruder',
    memberId: 'intruder~000000',
    address: '127.0.0.1:1',
    clusterId: null,
  });
  for (const id of [1, 2, 3]) assert.ok(refusedUnauthorized(await raw.reply(id)), `request ${id}`);
  // Refused, not thrown out: the connection still serves what a client may do.
  raw.request({ kind: 'ping', id: 4 });
  assert.ok((await raw.reply(4)).ok);
  assert.equal(node.status().members.length, 1, 'nobody joined');
  assert.deepEqual(await client.get('cart'), { items: 1 }, 'the node was not drained');
});

test("a peer link that presents the clients' token is refused", async (t) => {
  const node = await startNode({ port: 0, token: clientToken, clusterToken });
  t.after(() => node.close());
  const raw = await RawConnection.open(node.port);
  t.after(() => raw.close());
  raw.request({
    kind: 'peerHello',
    id: 0,
    protocol: peerProtocolVersion,
    memberId: 'intruder~000000',
    address: '127.0.0.1:1',
    clusterId: null,
    token: clientToken,
  });
  assert.ok(refusedUnauthorized(await raw.reply(0)));
  await raw.waitClosed();
});

test("the cluster's secret is also accepted for data, and may accept loss", async (t) => {
  const node = await startNode({ port: 0, token: clientToken, clusterToken });
  t.after(() => node.close());
  const operator = await connect({ seeds: node.address, token: clusterToken });
  t.after(() => operator.close());
  await operator.set('k', 1);
  const raw = await RawConnection.ready(node.port, 'operator', clusterToken);
  t.after(() => raw.close());
  raw.request({ kind: 'acceptLoss', id: 1 });
  const reply = await raw.reply(1);
  assert.ok(reply.ok, 'accept-loss with nothing stuck is answered');
  assert.deepEqual(reply.result, { accepted: [], refused: [] });
});

test('three nodes that share a cluster token form a cluster that serves clients holding theirs', async (t) => {
  const nodes = await startCluster(t, 3, { token: clientToken, clusterToken });
  await eventually('three members, every partition replicated', () => replicated(nodes[0]!, 3));
  const client = await connect({ seeds: nodes[2]!.address, token: clientToken });
  t.after(() => client.close());
  for (let i = 0; i < 20; i++) await client.set(`k${i}`, i);
  for (let i = 0; i < 20; i++) assert.equal(await client.get(`k${i}`), i);
});

test("a node that presents the clients' token as its cluster secret cannot join", async (t) => {
  const founder = await startNode({ port: 0, token: clientToken, clusterToken });
  t.after(() => founder.close());
  await assert.rejects(
    startNode({
      port: 0,
      seeds: [founder.address],
      clusterToken: clientToken,
      joinTimeoutMs: 5_000,
    }),
    (e: Error & { code?: string }) => e.code === 'UNAUTHORIZED',
  );
  assert.equal(founder.status().members.length, 1);
});

test('a cluster token equal to the token is refused at start', async () => {
  await assert.rejects(
    startNode({ port: 0, token: 'same', clusterToken: 'same' }),
    (e: Error & { code?: string }) => e.code === 'BAD_REQUEST' && /differ/.test(e.message),
  );
});

test('without a cluster token, the one token still does everything', async (t) => {
  const node = await startNode({ port: 0, token: clientToken });
  t.after(() => node.close());
  const raw = await RawConnection.ready(node.port, 'operator', clientToken);
  t.after(() => raw.close());
  raw.request({ kind: 'acceptLoss', id: 1 });
  assert.ok((await raw.reply(1)).ok);
});
