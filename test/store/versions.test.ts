import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { enc, newStore, okResult, t0 } from './helpers.js';

test('every mutation takes the next partition sequence number', () => {
  const store = newStore();
  const seqs = [
    ...store.execute({ op: 'set', key: 'a', value: enc(1) }, t0).mutations,
    ...store.execute({ op: 'set', key: 'b', value: enc(1), ttlMs: 5 }, t0).mutations,
    ...store.execute({ op: 'touch', key: 'a', ttlMs: 5 }, t0).mutations,
    ...store.execute({ op: 'delete', key: 'b' }, t0).mutations,
    ...store.execute({ op: 'patch', key: 'c', ops: [] }, t0).mutations,
  ].map((m) => m.seq);
  assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
  assert.equal(store.lastSeq, 5);
});

test('a key re-created after a delete gets a higher version than before', () => {
  const store = newStore();
  const first = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  store.execute({ op: 'delete', key: 'k' }, t0);
  const second = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  assert.ok(second.version > first.version);
});

test('an old version does not match a re-created key with the same value', () => {
  const store = newStore();
  const first = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  store.execute({ op: 'delete', key: 'k' }, t0);
  store.execute({ op: 'set', key: 'k', value: enc(1) }, t0);
  const outcome = store.execute(
    { op: 'set', key: 'k', value: enc(2), ifVersion: first.version },
    t0,
  ).outcome;
  assert.equal(outcome.ok, false);
});

test('touch changes the expiry but not the version', () => {
  const store = newStore();
  const { version } = okResult(store.execute({ op: 'set', key: 'k', value: enc(1) }, t0), 'set');
  store.execute({ op: 'touch', key: 'k', ttlMs: 100 }, t0);
  const entry = okResult(store.execute({ op: 'get', key: 'k' }, t0), 'get').entry;
  assert.equal(entry?.version, version);
  assert.equal(entry?.expiresAt, t0 + 100);
});

test('the versions a key takes only grow, whatever the writes', () => {
  const step = fc.oneof(
    fc.record({ op: fc.constant('set' as const), key: fc.constantFrom('a', 'b') }),
    fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('a', 'b') }),
    fc.record({ op: fc.constant('touch' as const), key: fc.constantFrom('a', 'b') }),
    fc.record({ op: fc.constant('patch' as const), key: fc.constantFrom('a', 'b') }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const store = newStore();
      const last = new Map<string, number>();
      for (const s of steps) {
        if (s.op === 'set') store.execute({ op: 'set', key: s.key, value: enc({ n: 0 }) }, t0);
        else if (s.op === 'delete') store.execute({ op: 'delete', key: s.key }, t0);
        else if (s.op === 'touch') store.execute({ op: 'touch', key: s.key, ttlMs: 10 }, t0);
        else
          store.execute({ op: 'patch', key: s.key, ops: [{ op: 'incr', path: 'n', by: 1 }] }, t0);
        const entry = okResult(store.execute({ op: 'get', key: s.key }, t0), 'get').entry;
        if (entry === null) continue;
        assert.ok(entry.version >= (last.get(s.key) ?? 0));
        if (s.op !== 'touch') assert.ok(entry.version > (last.get(s.key) ?? 0));
        last.set(s.key, entry.version);
      }
    }),
  );
});
