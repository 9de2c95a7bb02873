/**
 * client.primaryOf(key): the address of the key's primary, from the client's partition table.
 * Checked against the nodes themselves: the named node answers a primary read of the key, and
 * every other node answers NOT_PRIMARY.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Client, connect } from '../../src/client/index.js';
import { parseAddress } from '../../src/core/address.js';
import { converged, eventually, startCluster } from '../helpers/cluster.js';
import { RawConnection } from '../helpers/raw-connection.js';

async function answersPrimaryRead(address: string, key: string): Promise<boolean> {
  const raw = await RawConnection.ready(parseAddress(address).port, 'primary-of');
  try {
    raw.request({ kind: 'command', id: 1, command: { op: 'get', key } });
    const reply = await raw.reply(1, 10_000);
    if (reply.ok) return true;
    if (reply.error.code === 'NOT_PRIMARY') return false;
    throw new Error(`${address} answered ${reply.error.code} for ${key}`);
  } finally {
    raw.close();
  }
}

test('primaryOf names the node that is primary for the key, and null before a table', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 8 });
  await eventually('placement settled', () => converged(nodes[0]!, 3));
  const client = await connect({ seeds: nodes.map((n) => n.address) });
  t.after(() => client.close());
  // The table may predate the settled placement: a write through the client refreshes it.
  const keys = Array.from({ length: 12 }, (_, i) => `sess:primary-of-${i}`);
  await Promise.all(keys.map((key) => client.set(key, { i: 1 })));
  const addresses = nodes.map((n) => n.address);
  const seen = new Set<string>();
  for (const key of keys) {
    const primary = client.primaryOf(key);
    assert.ok(primary !== null && addresses.includes(primary), `${key}: ${primary}`);
    seen.add(primary);
    for (const address of addresses) {
      assert.equal(
        await answersPrimaryRead(address, key),
        address === primary,
        `${key} @ ${address}`,
      );
    }
  }
  assert.ok(seen.size > 1, 'twelve keys over eight partitions on three nodes use more than one');
});

test('primaryOf is null for a client that has not learned the table', async () => {
  const client = new Client({ seeds: ['127.0.0.1:1'] });
  assert.equal(client.primaryOf('sess:any'), null);
  await client.close();
});
