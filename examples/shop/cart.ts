/**
 * The cart as the session stores it, and why it has this shape.
 *
 * The store merges a request's changes into the stored session per field (src/session/merge.ts):
 * a number or a string is *set*, so of two overlapping requests that change the same number the
 * last save wins; an array of distinct elements from which a request removed some elements and
 * to whose end it appended new ones is saved as `remove` and `add` of those elements, so the
 * additions and removals of overlapping requests all survive.
 *
 * So the cart is an array, not an object of productId -> quantity. With `{ tea: 2 }`, two
 * concurrent "add tea" requests both load 2 and both save 3: one add is lost. (Listing every
 * `cart.<id>` in the store's `counters` would make them increments, but a product's first add
 * is still a set of a new field, and "set the quantity to 1" or "remove" would become
 * increments that stack: two concurrent removals of 2 units would leave -2.)
 *
 * Instead each unit in the cart is one distinct element, `productId:nonce`, and a product's
 * quantity is the number of its units:
 *  - adding one unit ("add to cart") appends a unit with a random nonce: concurrent adds are
 *    `add`s of different elements, all kept;
 *  - raising a quantity to a target appends units named `productId:q<k>`, k the smallest not
 *    in the cart, so that every request that raises the same loaded cart to the same target
 *    appends the same elements: two concurrent "set tea to 5" requests `add` the same ones,
 *    and an `add` of an element already present is a no-op, so the cart holds 5, not 8 (with
 *    random nonces each request's units were distinct and both were kept);
 *  - lowering a quantity or removing a line removes that product's *last* units, chosen
 *    deterministically, so two concurrent "set tea to 1" requests remove the same elements
 *    (a remove is idempotent) instead of removing twice, and a unit added meanwhile survives;
 *  - checkout removes exactly the units it ordered: a unit added during checkout stays in the
 *    cart for the next order instead of vanishing;
 *  - the order history is an object keyed by order number, not an array, and the number is a
 *    hash of the units ordered and of the orders placed before: two overlapping checkouts of
 *    one cart (a double-submit) load the same both, set the same key and remove the same
 *    units, so they leave one order, not two. Appended to an array, each would have been a
 *    distinct element and both would have been kept. The earlier orders are in the hash
 *    because `q<k>` units come back after a checkout: the same units ordered again later are
 *    a new order, not the old one overwritten.
 * The price is one short string per unit; quantities are capped at `maxQuantity` per product.
 */
import { createHash, randomBytes } from 'node:crypto';
import { catalogue, type Product } from './catalogue.js';

/** Units of one product a cart may hold (overlapping adds may pass it by a few). */
export const maxQuantity = 999;

export type Cart = readonly string[];

export interface CartLine {
  readonly product: Product;
  readonly quantity: number;
}

function productOf(unit: string): string {
  const colon = unit.indexOf(':');
  return colon === -1 ? unit : unit.slice(0, colon);
}

function newUnit(productId: string): string {
  return `${productId}:${randomBytes(6).toString('base64url')}`;
}

/** `count` units of `productId` that depend only on `cart`: the smallest `q<k>` not in it. */
function targetUnits(cart: Cart, productId: string, count: number): string[] {
  const present = new Set(cart);
  const units: string[] = [];
  for (let k = 0; units.length < count; k++) {
    const unit = `${productId}:q${k}`;
    if (!present.has(unit)) units.push(unit);
  }
  return units;
}

export function quantityOf(cart: Cart, productId: string): number {
  let n = 0;
  for (const unit of cart) if (productOf(unit) === productId) n++;
  return n;
}

/** The cart's lines, in catalogue order; units of products no longer sold are ignored. */
export function linesOf(cart: Cart): CartLine[] {
  return catalogue
    .map((product) => ({ product, quantity: quantityOf(cart, product.id) }))
    .filter((line) => line.quantity > 0);
}

export function unitCount(cart: Cart): number {
  return linesOf(cart).reduce((n, line) => n + line.quantity, 0);
}

export function totalCents(lines: readonly CartLine[]): number {
  return lines.reduce((sum, line) => sum + line.quantity * line.product.priceCents, 0);
}

/**
 * The cart with `productId` at `quantity` (clamped to 0..maxQuantity): new units appended at
 * the end, or the product's last units removed; every other element kept in its order, which
 * is what lets the store save the change as `add`/`remove`.
 */
export function withQuantity(cart: Cart, productId: string, quantity: number): string[] {
  const target = Math.max(0, Math.min(maxQuantity, Math.floor(quantity)));
  const mine = cart.filter((unit) => productOf(unit) === productId);
  if (target >= mine.length) {
    return [...cart, ...targetUnits(cart, productId, target - mine.length)];
  }
  const drop = new Set(mine.slice(target));
  return cart.filter((unit) => !drop.has(unit));
}

/** The cart with one more unit of `productId`, or null when it already holds `maxQuantity`. */
export function withOneMore(cart: Cart, productId: string): string[] | null {
  const current = quantityOf(cart, productId);
  if (current >= maxQuantity) return null;
  return [...cart, newUnit(productId)];
}

/**
 * The number of the order of exactly these units after the orders `placed` before: the same
 * for every request that checks out the same units on the same history, whatever their order.
 */
export function orderNumberOf(units: Cart, placed: Iterable<string>): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([[...units].sort(), [...placed].sort()]))
    .digest('hex');
  return `SH-${hash.slice(0, 10).toUpperCase()}`;
}
