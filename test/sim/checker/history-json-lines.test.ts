import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MalformedHistoryError,
  eventTypes,
  operationNames,
  parseJsonLines,
  toJsonLines,
  type HistoryEvent,
} from './history.js';

const eventArb: fc.Arbitrary<HistoryEvent> = fc.record({
  process: fc.nat(1000),
  type: fc.constantFrom(...eventTypes),
  f: fc.constantFrom(...operationNames),
  key: fc.string(),
  value: fc.jsonValue(),
  time: fc.integer({ min: 0, max: 1e9 }),
});

test('a history written as JSON lines parses back to the same events', () => {
  fc.assert(
    fc.property(fc.array(eventArb, { maxLength: 30 }), (events) => {
      // Compared with a JSON copy: fast-check builds null-prototype objects, JSON does not.
      const expected: unknown = JSON.parse(JSON.stringify(events));
      assert.deepEqual(parseJsonLines(toJsonLines(events)), expected);
    }),
  );
});

test('each event is written on a line of its own', () => {
  const text = toJsonLines([
    { process: 0, type: 'invoke', f: 'write', key: 'k', value: 'a\nb', time: 1 },
    { process: 0, type: 'ok', f: 'write', key: 'k', value: null, time: 2 },
  ]);
  assert.equal(text.split('\n').length, 3);
  assert.ok(text.endsWith('\n'));
});

test('an undefined value is written as null so the line still parses', () => {
  const text = toJsonLines([
    { process: 0, type: 'invoke', f: 'read', key: 'k', value: undefined, time: 1 },
  ]);
  assert.equal(parseJsonLines(text)[0]?.value, null);
});

test('a line that is not JSON is refused, naming its line number', () => {
  const text =
    '{"process":0,"type":"invoke","f":"read","key":"k","value":null,"time":1}\n\n{"process":0,';
  assert.throws(
    () => parseJsonLines(text),
    (err: unknown) => err instanceof MalformedHistoryError && err.line === 3,
  );
});

test('an event with a bad field is refused, naming the line and the field', () => {
  const good = '{"process":0,"type":"invoke","f":"read","key":"k","value":null,"time":1}';
  const bad = '{"process":0,"type":"begin","f":"read","key":"k","value":null,"time":2}';
  assert.throws(() => parseJsonLines(`${good}\n${bad}\n`), /line 2: type must be one of/);
});

test('an event without a value is refused rather than guessed', () => {
  assert.throws(
    () => parseJsonLines('{"process":0,"type":"invoke","f":"read","key":"k","time":1}'),
    /line 1: value is missing/,
  );
});
