import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashUtf8, partitionOf, utf8ByteLength } from '../../src/core/keys.js';

function referenceFnv(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('the key hash equals FNV-1a with fmix32 over the UTF-8 bytes, for any string', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      assert.equal(hashUtf8(text), referenceFnv(text));
    }),
    { numRuns: 2_000 },
  );
});

test('the partition of a key is stable across releases (known values)', () => {
  // Changing these moves every key of every existing cluster: never do it by accident.
  assert.deepEqual(
    ['', 'a', 'session:1', 'user:42', '{user:42}:cart'].map((k) => partitionOf(k, 256)),
    [11, 179, 255, 18, 18],
  );
  assert.equal(hashUtf8('session:1'), 11074047);
});

test('keys with the same hash tag land in the same partition', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }).filter((t) => !t.includes('}')),
      fc.string(),
      fc.string(),
      (tag, a, b) => {
        assert.equal(
          partitionOf(`${a.replaceAll('{', '')}{${tag}}${b}`, 256),
          partitionOf(`{${tag}}`, 256),
        );
      },
    ),
  );
});

test('an empty hash tag hashes the whole key', () => {
  assert.equal(partitionOf('a{}b', 256), referenceFnv('a{}b') % 256);
});

test('keys spread evenly over partitions', () => {
  const counts = new Array<number>(256).fill(0);
  for (let i = 0; i < 256_000; i++) counts[partitionOf(`sess:${i}`, 256)]!++;
  const max = Math.max(...counts);
  const min = Math.min(...counts);
  // Expected 1000 per partition; a fair hash stays within about 5 standard deviations.
  assert.ok(max < 1160 && min > 840, `partition sizes range from ${min} to ${max}`);
});

test('utf8ByteLength agrees with Buffer.byteLength for any string', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      assert.equal(utf8ByteLength(text), Buffer.byteLength(text, 'utf8'));
    }),
    { numRuns: 2_000 },
  );
});
