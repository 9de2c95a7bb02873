/**
 * The shop's cart changes are ones the session store merges: every change to the cart array
 * diffs to element `add`/`remove`, never a `set` of the whole cart (cart.ts says why).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { diffDocuments } from '../../src/session/merge.js';
import {
  linesOf,
  maxQuantity,
  orderNumberOf,
  withOneMore,
  withQuantity,
} from '../../examples/shop/cart.js';

function opsOf(before: string[], after: string[]): string[] {
  return diffDocuments({ cart: before }, { cart: after }).map((op) => op.op);
}

test('add, change quantity, remove and empty all diff to element adds and removes', () => {
  let cart: string[] = [];
  const steps: [string, (c: string[]) => string[]][] = [
    ['add tea', (c) => withOneMore(c, 'tea')!],
    ['add mug', (c) => withOneMore(c, 'mug')!],
    ['tea to 4', (c) => withQuantity(c, 'tea', 4)],
    ['tea to 2', (c) => withQuantity(c, 'tea', 2)],
    ['remove mug', (c) => withQuantity(c, 'mug', 0)],
    ['empty', () => []],
  ];
  for (const [what, step] of steps) {
    const next = step(cart);
    for (const op of opsOf(cart, next))
      assert.ok(op === 'add' || op === 'remove', `${what}: ${op}`);
    cart = next;
  }
});

test('two overlapping decreases remove the same units; quantities are clamped', () => {
  const cart = withQuantity([], 'tea', 5);
  assert.deepEqual(withQuantity(cart, 'tea', 2), withQuantity(cart, 'tea', 2));
  assert.deepEqual(
    linesOf(withQuantity(cart, 'tea', -3)).map((l) => l.quantity),
    [],
  );
  const full = withQuantity([], 'mug', maxQuantity + 10);
  assert.equal(linesOf(full)[0]!.quantity, maxQuantity);
  assert.equal(withOneMore(full, 'mug'), null);
});

test('the order number depends on the units ordered and the earlier orders, not on cart order', () => {
  const cart = withOneMore(withOneMore(withOneMore([], 'tea')!, 'mug')!, 'tea')!;
  const number = orderNumberOf(cart, []);
  assert.equal(number, orderNumberOf([...cart].reverse(), []));
  assert.notEqual(number, orderNumberOf(cart.slice(1), []));
  assert.notEqual(number, orderNumberOf(cart, [number]), 'the same units ordered again');
  assert.match(number, /^SH-[0-9A-F]{10}$/);
});

test('raising a quantity adds the same units for the same cart; adding one unit never does', () => {
  const cart = withQuantity(withOneMore([], 'mug')!, 'mug', 2);
  assert.deepEqual(withQuantity(cart, 'mug', 5), withQuantity(cart, 'mug', 5));
  assert.equal(new Set([...withQuantity(cart, 'mug', 5), ...withQuantity(cart, 'mug', 5)]).size, 5);
  assert.notDeepEqual(withOneMore(cart, 'mug'), withOneMore(cart, 'mug'));
});
