import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cas, del, incr, read, write } from './fixtures.js';
import { canonicalJson, registerModel } from './models.js';

test('canonical JSON is the same text for structurally equal values', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => {
      const reversed = Object.fromEntries(Object.entries(o).reverse());
      assert.equal(canonicalJson(o), canonicalJson(reversed));
    }),
  );
});

test('a read fits only the state it returned', () => {
  assert.equal(registerModel.step('1', read(0, 1, 0, 1)).ok, true);
  assert.equal(registerModel.step('1', read(0, 2, 0, 1)).ok, false);
});

test('a read with unknown outcome fits every state', () => {
  assert.equal(registerModel.step('1', read(0, null, 0)).ok, true);
});

test('a successful cas needs the expected value and installs the new one', () => {
  assert.deepEqual(registerModel.step('{"a":1}', cas(0, { a: 1 }, 2, 0, 1)), {
    ok: true,
    state: '2',
  });
  assert.equal(registerModel.step('3', cas(0, { a: 1 }, 2, 0, 1)).ok, false);
});

test('a cas with unknown outcome and a mismatch changes nothing', () => {
  assert.deepEqual(registerModel.step('3', cas(0, 1, 2, 0)), { ok: true, state: '3' });
});

test('write sets and delete empties the register', () => {
  assert.equal(registerModel.step('null', write(0, [1], 0, 1)).state, '[1]');
  assert.equal(registerModel.step('[1]', del(0, 0, 1)).state, 'null');
});

test('patch operations are refused as routed to the wrong checker', () => {
  assert.throws(() => registerModel.step('null', incr(0, 1, 0, 1)), /commutative\.ts/);
});
