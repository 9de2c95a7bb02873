import test from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../src/core/errors.js';
import { idempotencyResultsPerClientMax } from '../../src/core/limits.js';
import { MemoryBudget, type Command, type IdempotencyId } from '../../src/store/index.js';
import { dec, enc, failure, newStore, okResult, read, t0 } from './helpers.js';

const incr: Command = {
  op: 'patch',
  key: 'counter',
  ops: [{ op: 'incr', path: 'n', by: 1 }],
  returnValue: true,
};
const id = (seq: number, clientId = 'client-1'): IdempotencyId => ({ clientId, seq });

test('a retried increment is applied once and answered with the same result', () => {
  const store = newStore();
  const first = store.execute(incr, t0, id(1));
  const retry = store.execute(incr, t0 + 10, id(1));
  assert.deepEqual(retry.outcome, first.outcome);
  assert.deepEqual(read(store, 'counter'), { n: 1 });
  const value = okResult(retry, 'patch').value;
  assert.ok(value);
  assert.deepEqual(dec(value), { n: 1 });
});

test('a retry is answered without mutations', () => {
  const store = newStore();
  store.execute(incr, t0, id(1));
  const lastSeq = store.lastSeq;
  assert.equal(store.execute(incr, t0, id(1)).mutations.length, 0);
  assert.equal(store.lastSeq, lastSeq);
});

test('a new request of the same client is applied', () => {
  const store = newStore();
  store.execute(incr, t0, id(1));
  store.execute(incr, t0, id(2));
  assert.deepEqual(read(store, 'counter'), { n: 2 });
});

test('the same seq from another client is another request', () => {
  const store = newStore();
  store.execute(incr, t0, id(1, 'a'));
  store.execute(incr, t0, id(1, 'b'));
  assert.deepEqual(read(store, 'counter'), { n: 2 });
});

test('a write with an id adds a result mutation after its data mutation', () => {
  const store = newStore();
  const execution = store.execute({ op: 'set', key: 'k', value: enc(1) }, t0 + 5, id(3));
  assert.equal(execution.mutations.length, 2);
  const [put, result] = execution.mutations;
  assert.equal(put?.kind, 'put');
  assert.deepEqual(result, {
    kind: 'result',
    seq: 2,
    id: { clientId: 'client-1', seq: 3 },
    outcome: execution.outcome,
    at: t0 + 5,
  });
});

test('a refused write with an id is remembered, so a later retry is not applied', () => {
  const store = newStore();
  const conditional: Command = { op: 'set', key: 'k', value: enc('mine'), ifVersion: 1 };
  const first = store.execute(conditional, t0, id(1));
  failure(first, ErrorCode.VERSION_MISMATCH);
  assert.deepEqual(
    first.mutations.map((m) => m.kind),
    ['result'],
  );
  // Someone else's write makes the condition true; the retry must still not apply.
  store.execute({ op: 'set', key: 'k', value: enc('theirs') }, t0);
  failure(store.execute(conditional, t0, id(1)), ErrorCode.VERSION_MISMATCH);
  assert.equal(read(store, 'k'), 'theirs');
});

test('an OUT_OF_MEMORY refusal is not remembered, so its retry may succeed later', () => {
  const budget = new MemoryBudget(400);
  const store = newStore({ budget });
  const big: Command = { op: 'set', key: 'k', value: new Uint8Array(100) };
  const first = store.execute(big, t0, id(1));
  failure(first, ErrorCode.OUT_OF_MEMORY);
  assert.equal(first.mutations.length, 0);
  const smaller = newStore({ budget: new MemoryBudget(1_000) });
  okResult(smaller.execute(big, t0, id(1)), 'set');
  assert.equal([...store.remembered()].length, 0);
});

test('reads ignore idempotency ids', () => {
  const store = newStore();
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  const read1 = store.execute({ op: 'get', key: 'k' }, t0, id(1));
  assert.equal(read1.mutations.length, 0);
  store.execute({ op: 'set', key: 'k', value: enc(2) }, t0);
  assert.equal(
    dec(
      okResult(store.execute({ op: 'get', key: 'k' }, t0, id(1)), 'get').entry?.value ?? enc(null),
    ),
    2,
  );
  assert.equal([...store.remembered()].length, 0);
});

test('a malformed idempotency id is refused with BAD_REQUEST', () => {
  const store = newStore();
  const set: Command = { op: 'set', key: 'k', value: enc(1) };
  failure(store.execute(set, t0, { clientId: '', seq: 1 }), ErrorCode.BAD_REQUEST);
  failure(store.execute(set, t0, { clientId: 'c', seq: -1 }), ErrorCode.BAD_REQUEST);
  failure(store.execute(set, t0, { clientId: 'c', seq: 0.5 }), ErrorCode.BAD_REQUEST);
  failure(store.execute(set, t0, { clientId: 'c'.repeat(300), seq: 1 }), ErrorCode.BAD_REQUEST);
  assert.equal(store.size, 0);
});

test(`at most ${idempotencyResultsPerClientMax} results are remembered per client by default`, () => {
  const store = newStore();
  for (let seq = 1; seq <= idempotencyResultsPerClientMax + 10; seq++) {
    store.execute({ op: 'set', key: 'k', value: enc(seq) }, t0, id(seq));
  }
  const [client] = [...store.remembered()];
  assert.equal(client?.results.size, idempotencyResultsPerClientMax);
  assert.equal(client?.forgottenUpTo, 10);
});

test('the lowest seqs are forgotten first, even when they arrive out of order', () => {
  const store = newStore({ idempotencyResultsPerClientMax: 3 });
  for (const seq of [5, 2, 9, 7])
    store.execute({ op: 'set', key: 'k', value: enc(seq) }, t0, id(seq));
  const [client] = [...store.remembered()];
  assert.deepEqual(
    [...(client?.results.keys() ?? [])].sort((a, b) => a - b),
    [5, 7, 9],
  );
  assert.equal(client?.forgottenUpTo, 2);
});

test('a retry at or below the forgotten seqs of a remembered client answers RETRY_EXPIRED', () => {
  const store = newStore({ idempotencyResultsPerClientMax: 2 });
  for (let seq = 1; seq <= 4; seq++) store.execute(incr, t0, id(seq));
  const execution = store.execute(incr, t0, id(1));
  failure(execution, ErrorCode.RETRY_EXPIRED);
  assert.equal(execution.mutations.length, 0);
  assert.deepEqual(read(store, 'counter'), { n: 4 });
});

test('a first request above the forgotten seqs is executed, even if it arrives late', () => {
  const store = newStore({ idempotencyResultsPerClientMax: 2 });
  for (const seq of [1, 2, 3, 6, 7]) store.execute(incr, t0, id(seq));
  okResult(store.execute(incr, t0, id(4)), 'patch');
  assert.deepEqual(read(store, 'counter'), { n: 6 });
});

test('a client idle longer than idempotencyClientIdleMs is forgotten', () => {
  const store = newStore({ idempotencyClientIdleMs: 1_000 });
  store.execute(incr, t0, id(1, 'idle'));
  store.execute(incr, t0 + 1_000, id(1, 'busy'));
  assert.deepEqual(
    [...store.remembered()].map((c) => c.clientId),
    ['idle', 'busy'],
  );
  store.execute(incr, t0 + 1_001, id(2, 'busy'));
  assert.deepEqual(
    [...store.remembered()].map((c) => c.clientId),
    ['busy'],
  );
});

test('a write keeps its client remembered', () => {
  const store = newStore({ idempotencyClientIdleMs: 1_000 });
  for (let i = 0; i < 10; i++) store.execute(incr, t0 + i * 900, id(i, 'steady'));
  assert.equal([...store.remembered()].length, 1);
});

test('idle clients are forgotten a bounded number at a time', () => {
  const store = newStore({ idempotencyClientIdleMs: 1_000 });
  for (let i = 0; i < 100; i++) store.execute(incr, t0, id(1, `c${i}`));
  store.execute(incr, t0 + 5_000, id(1, 'late'));
  const left = [...store.remembered()].length;
  assert.ok(left > 1 && left < 101, `${left} clients left after one write`);
  for (let i = 0; i < 10; i++) store.execute(incr, t0 + 5_000, id(2 + i, 'late'));
  assert.deepEqual(
    [...store.remembered()].map((c) => c.clientId),
    ['late'],
  );
});

test('a clock that steps back makes no client look idle sooner', () => {
  const store = newStore({ idempotencyClientIdleMs: 1_000 });
  store.execute(incr, t0 + 10_000, id(1, 'b'));
  store.execute(incr, t0 + 10_000, id(1, 'a'));
  // b writes again on a clock 10 s behind: it was still active at the latest time seen.
  store.execute(incr, t0, id(2, 'b'));
  store.execute(incr, t0 + 10_500, id(2, 'a'));
  assert.deepEqual(
    [...store.remembered()].map((c) => c.clientId),
    ['b', 'a'],
  );
});

test('a backup that applied the results answers a retry after failover', () => {
  const primary = newStore();
  const backup = newStore();
  const first = primary.execute(incr, t0, id(1));
  backup.apply(first.mutations);
  const retry = backup.execute(incr, t0 + 100, id(1));
  assert.deepEqual(retry.outcome, first.outcome);
  assert.equal(retry.mutations.length, 0);
  assert.deepEqual(read(backup, 'counter'), { n: 1 });
});

test('clear forgets the remembered results', () => {
  const store = newStore();
  store.execute(incr, t0, id(1));
  store.clear();
  assert.equal([...store.remembered()].length, 0);
});

test('results below the acknowledgement mark are forgotten, so the table holds only writes in flight', () => {
  const store = newStore();
  for (let seq = 1; seq <= 10_000; seq++) {
    // The client has the answers to every write before the last three.
    store.execute(incr, t0, { clientId: 'c', seq, ackedBelow: Math.max(1, seq - 3) });
  }
  const client = [...store.remembered()].find((c) => c.clientId === 'c')!;
  assert.ok(client.results.size <= 4, `remembered ${client.results.size} results`);
});

test('a retry of an acknowledged write is refused with RETRY_EXPIRED, never applied again', () => {
  const store = newStore();
  store.execute(incr, t0, { clientId: 'c', seq: 1 });
  store.execute(incr, t0, { clientId: 'c', seq: 2, ackedBelow: 2 });
  const retry = store.execute(incr, t0, { clientId: 'c', seq: 1 });
  failure(retry, ErrorCode.RETRY_EXPIRED);
  assert.deepEqual(read(store, 'counter'), { n: 2 });
});

test('an acknowledgement mark above the write itself is refused', () => {
  const store = newStore();
  const result = store.execute(incr, t0, { clientId: 'c', seq: 1, ackedBelow: 5 });
  failure(result, ErrorCode.BAD_REQUEST);
});
