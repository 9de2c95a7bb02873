import test from 'node:test';
import assert from 'node:assert/strict';
import { StatehouseError } from '../../src/index.js';
import { withNode } from '../helpers/node.js';

test('a value set is read back equal, with a version and no expiry', async (t) => {
  const { client } = await withNode(t);
  const value = { user: 'ada', cart: [{ sku: 'A1', qty: 2 }], n: 1.5, ok: true, nothing: null };
  const version = await client.set('s', value);
  const entry = await client.getEntry('s');
  assert.deepEqual(entry, { value, version, expiresAt: 0 });
});

test('versions increase with every write to a key, even across delete', async (t) => {
  const { client } = await withNode(t);
  const v1 = await client.set('k', 1);
  const v2 = await client.set('k', 2);
  await client.delete('k');
  const v3 = await client.set('k', 3);
  assert.ok(v1 < v2 && v2 < v3);
});

test('set with ifVersion writes only over that version', async (t) => {
  const { client } = await withNode(t);
  const v1 = await client.set('k', 'a');
  await client.set('k', 'b', { ifVersion: v1 });
  await assert.rejects(
    client.set('k', 'c', { ifVersion: v1 }),
    (e: StatehouseError) => e.code === 'VERSION_MISMATCH',
  );
  assert.equal(await client.get('k'), 'b');
});

test('cas replaces a value only when it equals the expected document', async (t) => {
  const { client } = await withNode(t);
  await client.set('k', { a: 1, b: 2 });
  await client.cas('k', { b: 2, a: 1 }, { a: 9 });
  await assert.rejects(
    client.cas('k', { a: 1 }, { a: 10 }),
    (e: StatehouseError) => e.code === 'VERSION_MISMATCH',
  );
  assert.deepEqual(await client.get('k'), { a: 9 });
});

// Found by review: the frame limit was sized for one value, and a cas carries two.
test('cas of a value near the value limit by another near it succeeds: the frame holds both', async (t) => {
  const { client } = await withNode(t);
  const before = { doc: 'a'.repeat(600_000) };
  const after = { doc: 'b'.repeat(600_000) };
  await client.set('k', before);
  await client.cas('k', before, after);
  assert.deepEqual(await client.get('k'), after);
});
test('patch applies field operations atomically and can return the new value', async (t) => {
  const { client } = await withNode(t);
  await client.set('cart', { items: ['a'], total: 1 });
  const { value } = await client.patch<{ items: string[]; total: number; user: { name: string } }>(
    'cart',
    [
      { op: 'add', path: 'items', values: ['b', 'a'] },
      { op: 'incr', path: 'total', by: 2 },
      { op: 'set', path: 'user.name', value: 'ada' },
    ],
    { returnValue: true },
  );
  assert.deepEqual(value, { items: ['a', 'b'], total: 3, user: { name: 'ada' } });
  await assert.rejects(
    client.patch('cart', [
      { op: 'incr', path: 'total', by: 1 },
      { op: 'incr', path: 'items', by: 1 },
    ]),
    (e: StatehouseError) => e.code === 'BAD_REQUEST',
  );
  assert.equal((await client.get<{ total: number }>('cart'))?.total, 3);
});

test('a patch path through __proto__ is refused and pollutes nothing', async (t) => {
  const { client } = await withNode(t);
  for (const path of ['__proto__.polluted', 'a.constructor.prototype.polluted', 'prototype']) {
    await assert.rejects(
      client.patch('p', [{ op: 'set', path, value: 1 }]),
      (e: StatehouseError) => e.code === 'BAD_REQUEST',
    );
  }
  assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined);
});

test('ttl, touch and expiry work end to end', async (t) => {
  const { client } = await withNode(t);
  await client.set('short', 1, { ttlMs: 150 });
  await client.set('forever', 1);
  const ttl = await client.ttl('short');
  assert.ok(typeof ttl === 'number' && ttl > 0 && ttl <= 150);
  assert.equal(await client.ttl('forever'), null);
  assert.equal(await client.ttl('nothing'), undefined);
  assert.equal(await client.touch('forever', 60_000), true);
  assert.equal(await client.touch('nothing', 1_000), false);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await client.get('short'), null);
});

test('a TTL and an expiry instant are whole milliseconds', async (t) => {
  const { client } = await withNode(t);
  await client.set('session', 1, { ttlMs: 60_000 });
  for (let i = 0; i < 20; i++) {
    const ttl = await client.ttl('session');
    const entry = await client.getEntry('session');
    assert.ok(Number.isInteger(ttl), `ttl ${ttl}`);
    assert.ok(Number.isInteger(entry!.expiresAt), `expiresAt ${entry!.expiresAt}`);
  }
});

test('a key over the limit is refused by the client before sending', async (t) => {
  const { client } = await withNode(t, { keyBytesMax: 16 });
  await assert.rejects(
    client.set('k'.repeat(17), 1),
    (e: StatehouseError) => e.code === 'TOO_LARGE',
  );
  await client.set('k'.repeat(16), 1);
});

test('a value over the limit is refused with TOO_LARGE and the connection stays usable', async (t) => {
  const { client } = await withNode(t, { valueBytesMax: 1024 });
  await assert.rejects(
    client.set('big', 'x'.repeat(2_000)),
    (e: StatehouseError) => e.code === 'TOO_LARGE',
  );
  await client.set('small', 'x');
  assert.equal(await client.get('small'), 'x');
});

test('writes beyond the memory limit get OUT_OF_MEMORY and deletes free room again', async (t) => {
  const { client } = await withNode(t, { maxMemoryBytes: 64 * 1024 });
  let refused: StatehouseError | null = null;
  let written = 0;
  for (; written < 1_000; written++) {
    try {
      await client.set(`k${written}`, 'x'.repeat(1_000));
    } catch (error) {
      refused = error as StatehouseError;
      break;
    }
  }
  assert.equal(refused?.code, 'OUT_OF_MEMORY');
  assert.ok(written > 10 && written < 64, `wrote ${written} entries of 1 KB into 64 KiB`);
  for (let i = 0; i < 10; i++) await client.delete(`k${i}`);
  await client.set('again', 'x'.repeat(1_000));
});

test('an undefined value is refused with a clear error', async (t) => {
  const { client } = await withNode(t);
  await assert.rejects(client.set('k', undefined), /must not be undefined/);
});
