/**
 * Nodes store value bytes as they come, so another program can store bytes that are not
 * MessagePack. Found by review: get() of such a value threw msgpackr's own Error, with no
 * code to branch on.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { StatehouseError } from '../../src/core/errors.js';
import { withNode } from '../helpers/node.js';
import { RawConnection } from '../helpers/raw-connection.js';

test('get of a stored value that is not MessagePack fails with BAD_VALUE', async (t) => {
  const { node, client } = await withNode(t);
  const raw = await RawConnection.ready(node.port, 'other-writer');
  t.after(() => raw.close());
  // A fixarray that says two elements and holds one.
  raw.request({
    kind: 'command',
    id: 1,
    command: { op: 'set', key: 'k', value: new Uint8Array([0x92, 0x01]) },
  });
  assert.equal((await raw.reply(1)).ok, true);
  await assert.rejects(client.get('k'), (e: Error) => {
    assert.ok(
      e instanceof StatehouseError,
      `expected a StatehouseError, got ${e.constructor.name}: ${e.message}`,
    );
    assert.equal(e.code, 'BAD_VALUE');
    return true;
  });
});
