import test from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
import { RawConnection } from '../helpers/raw-connection.js';
import type { Request } from '../../src/protocol/index.js';

const incr = (id: number, seq: number): Request => ({
  kind: 'command',
  id,
  seq,
  command: { op: 'patch', key: 'counter', ops: [{ op: 'incr', path: 'n', by: 1 }] },
});

test('a retried write with the same client id and sequence is applied once', async (t) => {
  const node = await startNode({ port: 0 });
  t.after(() => node.close());
  const raw = await RawConnection.ready(node.port, 'client-a');
  t.after(() => raw.close());
  raw.request(incr(1, 7));
  const first = await raw.reply(1);
  raw.request(incr(2, 7));
  const retry = await raw.reply(2);
  assert.ok(first.ok && retry.ok);
  assert.deepEqual(retry.result, first.result);
  const client = await connect({ seeds: node.address });
  t.after(() => client.close());
  assert.deepEqual(await client.get('counter'), { n: 1 });
});

test('a retry on a new connection of the same client is still recognised', async (t) => {
  const node = await startNode({ port: 0 });
  t.after(() => node.close());
  const before = await RawConnection.ready(node.port, 'client-b');
  before.request(incr(1, 1));
  await before.reply(1);
  before.close();
  const after = await RawConnection.ready(node.port, 'client-b');
  t.after(() => after.close());
  after.request(incr(1, 1));
  await after.reply(1);
  after.request(incr(2, 2));
  await after.reply(2);
  const client = await connect({ seeds: node.address });
  t.after(() => client.close());
  assert.deepEqual(await client.get('counter'), { n: 2 });
});

test('the same sequence from two different clients is two writes', async (t) => {
  const node = await startNode({ port: 0 });
  t.after(() => node.close());
  for (const clientId of ['x', 'y']) {
    const raw = await RawConnection.ready(node.port, clientId);
    raw.request(incr(1, 1));
    await raw.reply(1);
    raw.close();
  }
  const client = await connect({ seeds: node.address });
  t.after(() => client.close());
  assert.deepEqual(await client.get('counter'), { n: 2 });
});
