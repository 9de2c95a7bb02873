/**
 * Forwarding (CommandRequest.forward): a node that is not a partition's primary passes a
 * client's command on to the primary over the peer links, one hop, keeping the client's
 * idempotency id, and relays the primary's answer.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import type { Request } from '../../src/protocol/index.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';
import { keyPerPartition } from '../helpers/load.js';
import { RawConnection } from '../helpers/raw-connection.js';

const partitions = 16;

test('a client that reaches only one node reads and writes every partition through it', async (t) => {
  const nodes = await startCluster(t, 3, { partitions });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)), 30_000);
  const only = nodes[0]!;
  const client = await connect({ seeds: only.address, forward: true, timeoutMs: 5_000 });
  t.after(() => client.close());
  const keys = keyPerPartition(partitions, 'fwd');
  const elsewhere = keys.filter((k) => client.primaryOf(k) !== only.address);
  assert.ok(elsewhere.length > 0, 'some partitions have their primary on another node');
  await Promise.all(keys.map((k, i) => client.set(k, { i })));
  assert.deepEqual(
    await Promise.all(keys.map((k) => client.get(k))),
    keys.map((_, i) => ({ i })),
  );
  // And the writes are on the primaries, where a client that routes itself finds them.
  const direct = await connect({ seeds: nodes.map((n) => n.address) });
  t.after(() => direct.close());
  assert.deepEqual(await direct.get(elsewhere[0]!), { i: keys.indexOf(elsewhere[0]!) });
});

test('without the forward flag, a node that is not the primary answers NOT_PRIMARY', async (t) => {
  const nodes = await startCluster(t, 3, { partitions });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)), 30_000);
  const probe = await connect({ seeds: nodes.map((n) => n.address) });
  t.after(() => probe.close());
  const node = nodes[0]!;
  const key = keyPerPartition(partitions, 'np').find((k) => probe.primaryOf(k) !== node.address)!;
  const raw = await RawConnection.ready(node.port, 'plain');
  t.after(() => raw.close());
  raw.request({ kind: 'command', id: 1, command: { op: 'get', key } });
  const reply = await raw.reply(1);
  assert.ok(!reply.ok);
  assert.equal(reply.error.code, 'NOT_PRIMARY');
});

test('a forwarded write retried with the same client id and sequence is applied once', async (t) => {
  const nodes = await startCluster(t, 3, { partitions });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)), 30_000);
  const probe = await connect({ seeds: nodes.map((n) => n.address) });
  t.after(() => probe.close());
  const node = nodes[0]!;
  const key = keyPerPartition(partitions, 'once').find((k) => probe.primaryOf(k) !== node.address)!;
  const incr = (id: number): Request => ({
    kind: 'command',
    id,
    seq: 1,
    forward: true,
    command: { op: 'patch', key, ops: [{ op: 'incr', path: 'n', by: 1 }] },
  });
  const raw = await RawConnection.ready(node.port, 'retrying-client');
  t.after(() => raw.close());
  raw.request(incr(1));
  const first = await raw.reply(1);
  raw.request(incr(2));
  const retry = await raw.reply(2);
  assert.ok(first.ok && retry.ok, JSON.stringify([first, retry]));
  assert.deepEqual(retry.result, first.result);
  assert.deepEqual(await probe.get(key), { n: 1 });
});

test('a client connection may not send the forward messages of peer links', async (t) => {
  const nodes = await startCluster(t, 1, { partitions });
  const raw = await RawConnection.ready(nodes[0]!.port, 'impostor');
  t.after(() => raw.close());
  raw.request({
    kind: 'forward',
    id: 5,
    clientId: 'someone-else',
    request: new Uint8Array([0x93, 0x0a, 0x01, 0x80]),
  });
  const reply = await raw.reply(5);
  assert.ok(!reply.ok);
  assert.equal(reply.error.code, 'BAD_REQUEST');
});

test('a forwarding client gets its write through once the primary it was forwarded to has failed over', async (t) => {
  const nodes = await startCluster(t, 3, { partitions });
  await eventually('converged', () => nodes.every((n) => converged(n, 3)), 30_000);
  const probe = await connect({ seeds: nodes.map((n) => n.address) });
  t.after(() => probe.close());
  const seed = nodes[0]!;
  const victim = nodes.find((n) => n !== seed && n.memberId !== seed.status().leader)!;
  const key = keyPerPartition(partitions, 'fo').find((k) => probe.primaryOf(k) === victim.address)!;
  const client = await connect({ seeds: seed.address, forward: true, timeoutMs: 15_000 });
  t.after(() => client.close());
  await client.set(key, 'before');
  await victim.close();
  await client.set(key, 'after');
  assert.equal(await client.get(key), 'after');
});
