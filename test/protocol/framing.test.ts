import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder, frameBatch } from '../../src/protocol/index.js';

function collect(
  decoder: FrameDecoder,
  chunks: Buffer[],
): { frames: Buffer[]; error: string | null } {
  const frames: Buffer[] = [];
  let error: string | null = null;
  for (const chunk of chunks) {
    const result = decoder.push(chunk, (body) => frames.push(Buffer.from(body)));
    if (result) {
      error = result.code;
      break;
    }
  }
  return { frames, error };
}

test('frames split at any byte boundaries come out whole and in order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
      (bodies, cuts) => {
        const stream = frameBatch(bodies);
        const chunks: Buffer[] = [];
        let offset = 0;
        let i = 0;
        while (offset < stream.length) {
          const size = cuts[i++ % cuts.length]!;
          chunks.push(stream.subarray(offset, offset + size));
          offset += size;
        }
        const { frames, error } = collect(new FrameDecoder(1024), chunks);
        assert.equal(error, null);
        assert.deepEqual(
          frames.map((f) => [...f]),
          bodies.map((b) => [...b]),
        );
      },
    ),
  );
});

test('a frame longer than the limit breaks the stream with TOO_LARGE before it is buffered', () => {
  const decoder = new FrameDecoder(100);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(101);
  const { frames, error } = collect(decoder, [header]);
  assert.equal(error, 'TOO_LARGE');
  assert.equal(frames.length, 0);
  assert.equal(decoder.pendingBytes, 0);
});

test('after a broken stream the decoder accepts nothing more', () => {
  const decoder = new FrameDecoder(10);
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(1_000_000);
  collect(decoder, [huge]);
  const { frames, error } = collect(decoder, [frameBatch([Buffer.from('ok')])]);
  assert.equal(error, 'TOO_LARGE');
  assert.equal(frames.length, 0);
});

test('a frame of exactly the limit is accepted', () => {
  const body = Buffer.alloc(100, 7);
  const { frames, error } = collect(new FrameDecoder(100), [frameBatch([body])]);
  assert.equal(error, null);
  assert.equal(frames.length, 1);
});

test('a partial frame kept between reads does not pin the large read buffer', () => {
  const decoder = new FrameDecoder(1 << 20);
  const big = Buffer.alloc(64 * 1024);
  const stream = frameBatch([Buffer.from('a'), Buffer.alloc(10, 1)]);
  stream.copy(big);
  const read = big.subarray(0, stream.length - 3);
  const frames: Buffer[] = [];
  decoder.push(read, (b) => frames.push(b));
  assert.equal(frames.length, 1);
  assert.ok(decoder.pendingBytes > 0 && decoder.pendingBytes < 64);
});
