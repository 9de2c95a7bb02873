import test from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, enc, setCmd } from './harness.js';

test('many writes before a flush travel as one append per backup', () => {
  const c = new Cluster(['A', 'B', 'C']);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B', 'C'], backups: ['B', 'C'] });
  c.deliverAll();
  for (let i = 0; i < 50; i++) c.execute('A', setCmd(`k${i}`, enc(i)));
  assert.equal(c.queue.length, 0, 'nothing is sent per write');
  c.flush('A');
  const appends = c.sent('append');
  assert.deepEqual(appends.map((e) => e.to).sort(), ['B', 'C']);
  for (const e of appends) {
    assert.ok(e.message.type === 'append');
    assert.equal(e.message.fromSeq, 1);
    assert.equal(e.message.mutations.length, 50);
  }
});

test('a flush with nothing new sends nothing', () => {
  const c = new Cluster(['A', 'B']);
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  c.deliverAll();
  c.execute('A', setCmd('k', enc(1)));
  c.flush('A');
  c.deliverAll();
  c.flush('A');
  assert.equal(c.queue.length, 0);
});

test('an append never carries more than appendMutationsMax mutations', () => {
  const c = new Cluster(['A', 'B'], { appendMutationsMax: 8 });
  c.configure({ epoch: 1, primary: 'A', inSync: ['A', 'B'], backups: ['B'] });
  c.deliverAll();
  for (let i = 0; i < 20; i++) c.execute('A', setCmd(`k${i}`, enc(i)));
  c.flush('A');
  for (const e of c.sent('append')) {
    assert.ok(e.message.type === 'append' && e.message.mutations.length <= 8);
  }
  c.settle();
  assert.equal(c.replica('B').lastSeq, 20);
});
