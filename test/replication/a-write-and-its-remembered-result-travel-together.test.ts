import test from 'node:test';
import assert from 'node:assert/strict';
import { read } from '../store/helpers.js';
import { Cluster, isOk } from './harness.js';

const incr = { op: 'patch', key: 'n', ops: [{ op: 'incr', path: 'hits', by: 1 }] } as const;

test('a retried write is not applied twice by a backup promoted between the write and its remembered result', () => {
  // Appends are cut at appendMutationsMax; an idempotent write is two mutations (the put and
  // its remembered result), so a cut between them leaves a backup with the write applied but
  // not remembered. Promoted then, it applies the client's retry a second time.
  const c = new Cluster(['A', 'B'], { appendMutationsMax: 3 });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  c.deliverAll();
  c.execute('A', incr, 'sync', { clientId: 'web', seq: 1 }); // seqs 1, 2
  c.execute('A', incr, 'sync', { clientId: 'web', seq: 2 }); // seqs 3, 4
  c.flush('A');
  const first = c.sent('append', 'B')[0];
  assert.ok(first !== undefined && first.message.type === 'append');
  c.queue = [first];
  c.deliver(); // B applies what the first append carries; A dies before sending more
  c.queue = [];
  c.replicas.delete('A');
  c.configure({ epoch: 2, primary: 'B', inSync: ['B'], backups: [] });
  // The client got no answer for request 2 and retries it with the same idempotency id.
  const retry = c.execute('B', incr, 'sync', { clientId: 'web', seq: 2 });
  assert.ok(isOk(c.outcome(retry)));
  assert.deepEqual(read(c.replica('B').store, 'n', c.now), { hits: 2 });
});
