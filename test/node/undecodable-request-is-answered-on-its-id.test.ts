/**
 * A request nested too deep for the decoder (msgpackr runs out of stack) still has a readable
 * header `[op, id, ...`. Found by review: it was answered BAD_REQUEST on id 0, so a pipelining
 * client never got an answer on its id and waited to its deadline (a write then in doubt).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'msgpackr';
import { startNode } from '../../src/node/index.js';
import { RawConnection } from '../helpers/raw-connection.js';

test('a request nested too deep to decode gets BAD_REQUEST on its own id', async (t) => {
  const node = await startNode({ port: 0 });
  t.after(() => node.close());
  const raw = await RawConnection.ready(node.port);
  t.after(() => raw.close());
  // [patch, 7, {key: 'x', ops: [{op: 'set', path: 'a', value: [[[...0...]]]}]}], 20,000 deep.
  const fields = pack({ key: 'x', ops: [{ op: 'set', path: 'a', value: 0 }] });
  const body = Buffer.concat([
    Buffer.from([0x93, 15, 7]),
    fields.subarray(0, fields.length - 1), // all but the final value 0
    Buffer.alloc(20_000, 0x91), // fixarray of one, nested
    Buffer.from([0x00]),
  ]);
  raw.writeFrame(body);
  raw.request({ kind: 'ping', id: 8 });
  assert.equal((await raw.reply(8)).ok, true, 'the connection keeps serving');
  assert.deepEqual(raw.outcomes(), ['7:BAD_REQUEST']);
});
