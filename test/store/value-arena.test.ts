/**
 * ValueArena (store/value-arena.ts): slots in shared chunks, given back explicitly. Checked
 * against a plain model: every value still held reads back exactly as it was stored.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValueArena, copyOut } from '../../src/store/index.js';
import { slotBytes } from '../../src/store/value-arena.js';

test('slots round a size up to 16 bytes, then to an eighth of a power of two', () => {
  assert.deepEqual([1, 16, 17, 64].map(slotBytes), [16, 16, 32, 64]);
  assert.deepEqual(
    [65, 72, 1_024, 1_025, 1_040, 1_153].map(slotBytes),
    [72, 72, 1_024, 1_152, 1_152, 1_280],
  );
  for (let n = 1; n <= 20_000; n += 7) {
    const slot = slotBytes(n);
    assert.ok(slot >= n && slot <= Math.max(n + 15, n * 1.125), `${n} -> ${slot}`);
  }
});

test('a released slot is reused by the next value of its size', () => {
  const arena = new ValueArena({ chunkBytes: 4_096 });
  const first = arena.store(new Uint8Array(1_000).fill(1));
  const held = arena.bytesHeld;
  arena.release(first);
  const second = arena.store(new Uint8Array(1_010).fill(2));
  assert.equal(second.buffer, first.buffer);
  assert.equal(second.byteOffset, first.byteOffset);
  assert.equal(arena.bytesHeld, held);
});

test('a slot released twice, or a view the arena never handed out, is a bug, asserted', () => {
  const arena = new ValueArena();
  const view = arena.store(new Uint8Array(100));
  arena.release(view);
  assert.throws(() => arena.release(view), /released twice/);
  assert.throws(() => arena.release(new Uint8Array(100)), /did not hand out/);
});

test('values above the slot size and empty values get buffers of their own', () => {
  const arena = new ValueArena({ slotBytesMax: 1_024 });
  const big = new Uint8Array(2_000).fill(5);
  const kept = arena.store(big);
  assert.notEqual(kept.buffer, big.buffer);
  assert.equal(kept.byteLength, kept.buffer.byteLength);
  arena.release(kept);
  assert.equal(arena.bytesHeld, 0);
  assert.equal(arena.store(new Uint8Array(0)).length, 0);
});

test('copyOut returns bytes of its own', () => {
  const arena = new ValueArena();
  const view = arena.store(new Uint8Array([1, 2, 3]));
  const copy = copyOut(view);
  arena.release(view);
  arena.store(new Uint8Array([9, 9, 9]));
  assert.deepEqual([...copy], [1, 2, 3]);
  assert.deepEqual([...copyOut(new Uint8Array(5_000).fill(4))].length, 5_000);
});

test('property: every value held reads back as stored, whatever was stored and released', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({
            store: fc.integer({ min: 0, max: 3_000 }),
            fill: fc.integer({ min: 0, max: 255 }),
          }),
          fc.record({ release: fc.nat() }),
        ),
        { maxLength: 300 },
      ),
      (steps) => {
        const arena = new ValueArena({ chunkBytes: 8_192, slotBytesMax: 2_048 });
        const held: { view: Uint8Array; fill: number; length: number }[] = [];
        for (const step of steps) {
          if ('store' in step) {
            const view = arena.store(new Uint8Array(step.store).fill(step.fill));
            held.push({ view, fill: step.fill, length: step.store });
          } else if (held.length > 0) {
            const [gone] = held.splice(step.release % held.length, 1);
            arena.release(gone!.view);
          }
          for (const h of held) {
            assert.equal(h.view.length, h.length);
            assert.ok(
              h.view.every((b) => b === h.fill),
              'a held value was written over',
            );
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
