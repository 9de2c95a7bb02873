/**
 * A HiddenSlot links a value to a framework's object (a session) without the object showing
 * it anywhere a framework or an application looks: the stores rely on that to find what a
 * request loaded while the session's JSON, keys and change hash stay the application's own.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import session from 'express-session';
import { HiddenSlot } from '../../src/session/hidden-slot.js';

test('a slot gives back the value last set on an object, and undefined before one is', () => {
  const slot = new HiddenSlot<number>('test');
  const target = { user: 'ada' };
  assert.equal(slot.get(target), undefined);
  slot.set(target, 1);
  slot.set(target, 2);
  assert.equal(slot.get(target), 2);
});

test('the value is invisible to JSON, keys, for-in, spread, structuredClone and express-session', () => {
  const slot = new HiddenSlot<object>('test');
  const target = { user: 'ada', cart: [1, 2] };
  const before = {
    json: JSON.stringify(target),
    keys: Object.keys(target),
    names: Object.getOwnPropertyNames(target),
  };
  slot.set(target, { secret: true });
  assert.equal(JSON.stringify(target), before.json);
  assert.deepEqual(Object.keys(target), before.keys);
  assert.deepEqual(Object.getOwnPropertyNames(target), before.names);
  const forIn: string[] = [];
  for (const key in target) forIn.push(key);
  assert.deepEqual(forIn, before.keys);
  assert.deepEqual({ ...target }, { user: 'ada', cart: [1, 2] });
  assert.equal(Object.getOwnPropertySymbols({ ...target }).length, 0);
  assert.deepEqual(structuredClone(target), { user: 'ada', cart: [1, 2] });
  // express-session builds its Session by copying the loaded data's enumerable fields.
  const SessionClass = session.Session as unknown as new (req: object, data: object) => object;
  const made = new SessionClass({ sessionID: 'id' }, target);
  assert.equal(slot.get(made), undefined);
  assert.equal(JSON.stringify(made), before.json);
});

test('a frozen object takes a value too, without being changed', () => {
  const slot = new HiddenSlot<string>('test');
  const target = Object.freeze({ user: 'ada' });
  slot.set(target, 'linked');
  assert.equal(slot.get(target), 'linked');
  assert.equal(Object.getOwnPropertySymbols(target).length, 0);
});

test('two slots on one object keep their values apart', () => {
  const first = new HiddenSlot<string>('same description');
  const second = new HiddenSlot<string>('same description');
  const target = {};
  first.set(target, 'a');
  second.set(target, 'b');
  assert.equal(first.get(target), 'a');
  assert.equal(second.get(target), 'b');
});

test("a value set by plain assignment on an object of the caller's own is invisible to JSON, keys, for-in, structuredClone and express-session", () => {
  const slot = new HiddenSlot<object>('test');
  const target = { user: 'ada', cart: [1, 2] };
  slot.setOnOwn(target, { secret: true });
  assert.deepEqual(slot.get(target), { secret: true });
  assert.equal(JSON.stringify(target), '{"user":"ada","cart":[1,2]}');
  assert.deepEqual(Object.keys(target), ['user', 'cart']);
  const forIn: string[] = [];
  for (const key in target) forIn.push(key);
  assert.deepEqual(forIn, ['user', 'cart']);
  assert.deepEqual(structuredClone(target), { user: 'ada', cart: [1, 2] });
  const SessionClass = session.Session as unknown as new (req: object, data: object) => object;
  const made = new SessionClass({ sessionID: 'id' }, target);
  assert.equal(slot.get(made), undefined);
  assert.equal(JSON.stringify(made), '{"user":"ada","cart":[1,2]}');
});
