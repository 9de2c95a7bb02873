/**
 * What a store remembers of a framework's session object: the base of its next save, and its
 * writes, run one at a time in the order they were asked for.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Loaded } from '../../src/session/engine.js';
import { SessionLinks } from '../../src/session/session-links.js';

const base = (version: number): Loaded => ({
  key: 'shop:s1',
  doc: {},
  version,
  expiresAt: 0,
  lock: null,
  destroyed: false,
});

test('a session has no base until one is set, then the last one set', () => {
  const links = new SessionLinks();
  const session = { user: 'ada' };
  assert.equal(links.base(session), undefined);
  links.setBase(session, base(1));
  links.setBase(session, base(2));
  assert.equal(links.base(session)?.version, 2);
  assert.deepEqual(Object.keys(session), ['user']);
});

test('a write asked for while another runs starts only once that one has settled', async () => {
  const links = new SessionLinks();
  const session = {};
  const events: string[] = [];
  let finishFirst!: () => void;
  const first = links.inTurn(session, async () => {
    events.push('first starts');
    await new Promise<void>((resolve) => (finishFirst = resolve));
    events.push('first ends');
  });
  const second = links.inTurn(session, async () => {
    events.push('second starts');
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(events, ['first starts']);
  finishFirst();
  await Promise.all([first, second]);
  assert.deepEqual(events, ['first starts', 'first ends', 'second starts']);
});

test('a write asked for after the earlier ones settled starts at once, reading the session as it is then', async () => {
  const links = new SessionLinks();
  const session = { n: 1 };
  await links.inTurn(session, async () => undefined);
  let seen = 0;
  const write = links.inTurn(session, async () => {
    seen = session.n;
  });
  session.n = 2;
  await write;
  assert.equal(seen, 1);
});

test('a failed write does not stop the next one, and its caller sees the failure', async () => {
  const links = new SessionLinks();
  const session = {};
  const failed = links.inTurn(session, async () => {
    throw new Error('node gone');
  });
  const next = links.inTurn(session, async () => 'saved');
  await assert.rejects(failed, /node gone/);
  assert.equal(await next, 'saved');
});

test('writes of different sessions do not wait for each other', async () => {
  const links = new SessionLinks();
  let finish!: () => void;
  const held = links.inTurn({}, () => new Promise<void>((resolve) => (finish = resolve)));
  assert.equal(await links.inTurn({}, async () => 'other'), 'other');
  finish();
  await held;
});
