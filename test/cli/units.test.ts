import test from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from '../../src/cli/units.js';

test('sizes accept bytes and binary units in any case', () => {
  assert.equal(parseSize('100'), 100);
  assert.equal(parseSize('512kb'), 512 * 1024);
  assert.equal(parseSize('256MB'), 256 * 1024 ** 2);
  assert.equal(parseSize('2GiB'), 2 * 1024 ** 3);
  assert.equal(parseSize('1.5m'), 1.5 * 1024 ** 2);
});

test('durations accept milliseconds and s, m, h, d', () => {
  assert.equal(parseDuration('250'), 250);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('20m'), 1_200_000);
  assert.equal(parseDuration('1h'), 3_600_000);
});

test('nonsense sizes and durations are refused with an example', () => {
  assert.throws(() => parseSize('lots'), /not a size \(examples/);
  assert.throws(() => parseSize('5 parsecs'), /not a size/);
  assert.throws(() => parseDuration('-1s'), /not a duration/);
  assert.throws(() => parseDuration('0'), /positive/);
});
