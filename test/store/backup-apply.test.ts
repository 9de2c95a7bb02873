import test from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '../../src/core/assert.js';
import type { Mutation } from '../../src/store/index.js';
import { dump, enc, newStore, okResult, read, t0 } from './helpers.js';

test('apply replays puts, expiry changes and deletes', () => {
  const backup = newStore();
  backup.apply([
    { kind: 'put', seq: 1, key: 'a', value: enc('x'), expiresAt: 0 },
    { kind: 'put', seq: 2, key: 'b', value: enc('y'), expiresAt: t0 + 10 },
    { kind: 'expiry', seq: 3, key: 'a', expiresAt: t0 + 50 },
    { kind: 'delete', seq: 4, key: 'b' },
  ]);
  assert.deepEqual(
    dump(backup).map((e) => [e.key, e.version, e.expiresAt]),
    [['a', 1, t0 + 50]],
  );
  assert.equal(backup.lastSeq, 4);
});

test('apply refuses a gap in sequence numbers as a programmer error', () => {
  const backup = newStore();
  backup.apply([{ kind: 'put', seq: 1, key: 'a', value: enc(1), expiresAt: 0 }]);
  assert.throws(
    () => backup.apply([{ kind: 'put', seq: 3, key: 'a', value: enc(1), expiresAt: 0 }]),
    AssertionError,
  );
});

test('apply refuses a mutation it has already applied', () => {
  const backup = newStore();
  const put: Mutation = { kind: 'put', seq: 1, key: 'a', value: enc(1), expiresAt: 0 };
  backup.apply([put]);
  assert.throws(() => backup.apply([put]), AssertionError);
});

test('apply of a change to a key the backup does not hold is a divergence', () => {
  const backup = newStore();
  assert.throws(() => backup.apply([{ kind: 'delete', seq: 1, key: 'ghost' }]), /diverged/);
  const other = newStore();
  assert.throws(
    () => other.apply([{ kind: 'expiry', seq: 1, key: 'ghost', expiresAt: 5 }]),
    /diverged/,
  );
});

test('a backup keeps an expired entry until its primary replicates the delete', () => {
  const backup = newStore();
  backup.apply([{ kind: 'put', seq: 1, key: 'a', value: enc(1), expiresAt: t0 }]);
  assert.equal(backup.size, 1);
  assert.equal(read(backup, 'a', t0 + 1), null);
  backup.apply([{ kind: 'delete', seq: 2, key: 'a' }]);
  assert.equal(backup.size, 0);
});

test('a backup promoted to primary continues the sequence where its primary stopped', () => {
  const primary = newStore();
  const backup = newStore();
  backup.apply(primary.execute({ op: 'set', key: 'a', value: enc(1), ttlMs: 100 }, t0).mutations);
  backup.apply(primary.execute({ op: 'set', key: 'b', value: enc(1), ttlMs: 50 }, t0).mutations);
  const next = okResult(backup.execute({ op: 'set', key: 'c', value: enc(1) }, t0), 'set');
  assert.equal(next.version, 3);
  const reclaimed = backup
    .reclaimExpired(t0 + 100, 10)
    .map((m) => (m.kind === 'delete' ? m.key : ''));
  assert.deepEqual(reclaimed, ['b', 'a']);
});

test('apply of a result the backup already remembers is a divergence', () => {
  const backup = newStore();
  const result: Mutation = {
    kind: 'result',
    seq: 1,
    id: { clientId: 'c', seq: 1 },
    outcome: { ok: true, result: { op: 'delete', deleted: false } },
    at: t0,
  };
  backup.apply([result]);
  assert.throws(() => backup.apply([{ ...result, seq: 2 }]), /remembered twice/);
});
