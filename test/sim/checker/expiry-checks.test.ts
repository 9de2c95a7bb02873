import test from 'node:test';
import assert from 'node:assert/strict';
import { checkExpiry, type ExpiryOptions } from './expiry.js';
import type { Operation } from './history.js';
import { del, read, write } from './fixtures.js';

const ttl: ExpiryOptions = { ttlMs: 1_000, clockSpreadMs: 100 };
const check = (ops: Operation[], options = ttl) => checkExpiry(ops, new Set(['k']), options);

test('a value read within its TTL and nothing read after it passes', () => {
  const result = check([write(0, 1, 0, 10), read(1, 1, 500, 510), read(1, null, 1_200, 1_210)]);
  assert.equal(result.ok, true);
  assert.equal(result.expiredReads, 1);
});

test('a value read after every clock says it expired is caught', () => {
  const result = check([write(0, 1, 0, 10), read(1, 1, 1_200, 1_210)]);
  assert.equal(result.ok, false);
  assert.match(result.violations[0]!.description, /90 ms after every clock said it had expired/);
});

test('a value read late, but within the clocks spread, passes', () => {
  const result = check([write(0, 1, 0, 10), read(1, 1, 1_100, 1_110)]);
  assert.equal(result.ok, true);
});

test('nothing found before the value could have expired on any clock is caught', () => {
  const result = check([write(0, 1, 0, 10), read(1, null, 500, 510)]);
  assert.equal(result.ok, false);
  assert.match(result.violations[0]!.description, /found nothing 390 ms before/);
  assert.equal(result.earlyJudged, 1);
});

test('a later write keeps the key alive past the first write s expiry', () => {
  const result = check([write(0, 1, 0, 10), write(0, 2, 800, 810), read(1, null, 1_200, 1_210)]);
  assert.equal(result.ok, false);
  assert.match(result.violations[0]!.description, /write "k" 2/);
});

test('nothing found before a write returned is no violation', () => {
  const result = check([write(0, 1, 0, 10), read(1, null, 5, 8)]);
  assert.equal(result.ok, true);
  assert.equal(result.expiredReads, 0);
});

test('a write of unknown outcome excuses its value but bounds nothing', () => {
  const result = check([write(0, 1, 0), read(1, 1, 5_000, 5_010), read(1, null, 6_000, 6_010)]);
  assert.equal(result.ok, true);
});

test('a value no write was called with is caught', () => {
  const result = check([write(0, 1, 0, 10), read(1, 7, 20, 30)]);
  assert.match(result.violations[0]!.description, /no write had been called with/);
});

test('with clocks further apart than the TTL, no early read can be judged', () => {
  const result = check([write(0, 1, 0, 10), read(1, null, 20, 30)], {
    ttlMs: 1_000,
    clockSpreadMs: 1_500,
  });
  assert.equal(result.ok, true);
  assert.equal(result.earlyJudged, 0);
});

test('a delete on a key with a TTL is refused as a workload bug', () => {
  assert.throws(() => check([write(0, 1, 0, 10), del(1, 20, 30)]), /holds a delete/);
});
