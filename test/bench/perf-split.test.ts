/**
 * bench/perf-split.ts turns a perf recording of a shop's main thread into the per-request
 * split the design notes quote: each sample must land in the category its stack says.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { splitPerfScript, type Category } from '../../bench/perf-split.js';

/** One sample as `perf script` prints it: a header line, then frames leaf first. */
function sample(...frames: string[]): string {
  const lines = frames.map((frame, i) => `\t    ${(0x7f0000000000 + i).toString(16)} ${frame}`);
  return ['node  4242 1000.000001:     250000 cpu-clock:', ...lines, ''].join('\n');
}

const kernel = (symbol: string): string => `${symbol}+0x11 ([kernel.kallsyms])`;
const js = (name: string): string => `JS:*${name}+0x1f (/tmp/perf-4242.map)`;
const ours = js('attempt file:///srv/statehouse/dist/client/client.js:465:18');
const redis = js('get file:///srv/app/node_modules/connect-redis/dist/connect-redis.js:25:12');
const express = js('next file:///srv/app/node_modules/router/index.js:189:17');

function categoryOf(text: string): Category {
  const { counts, total } = splitPerfScript(text);
  assert.equal(total, 1);
  return [...counts.keys()][0]!;
}

test('a page fault counts as a fault, whatever JavaScript it interrupted', () => {
  const text = sample(
    kernel('__raw_callee_save_pvm_irq_enable'),
    kernel('exc_page_fault'),
    kernel('asm_exc_page_fault'),
    'v8::internal::Scavenger::ScavengePage+0xe29 (/usr/bin/node)',
    ours,
  );
  assert.equal(categoryOf(text), 'faults');
});

test("waking a socket's reader counts apart from other kernel time", () => {
  const wake = sample(
    kernel('_raw_spin_unlock_irqrestore'),
    kernel('sock_def_readable'),
    kernel('tcp_data_queue'),
    '__GI___libc_write+0x4f (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  );
  const read = sample(kernel('copy_user_generic'), kernel('tcp_recvmsg'), 'read+0x4c (libc.so.6)');
  assert.equal(categoryOf(wake), 'wakeups');
  assert.equal(categoryOf(read), 'kernel');
});

test('a built-in counts for the first JavaScript function below it', () => {
  const fromOurs = sample('Builtins_FulfillPromise+0x40 (/usr/bin/node)', ours, express);
  const fromRedis = sample('Builtins_LoadIC_Megamorphic+0x9 (/usr/bin/node)', redis);
  const fromExpress = sample('Builtins_LoadIC+0x9 (/usr/bin/node)', express, ours);
  assert.equal(categoryOf(fromOurs), 'ours');
  assert.equal(categoryOf(fromRedis), 'redis');
  assert.equal(categoryOf(fromExpress), 'js');
});

test('Node.js library code counts for the application code that called it', () => {
  const timer = js('setTimeout node:timers:139:20');
  const fromOurs = sample('Builtins_KeyedLoadIC_Megamorphic+0x9 (/usr/bin/node)', timer, ours);
  const fromRedis = sample(timer, js('timeout node:internal/abort_controller:185:3'), redis);
  const fromLoop = sample(
    js('processImmediate node:internal/timers:438:28'),
    'Builtins_JSEntryTrampoline+0x5a (/usr/bin/node)',
    'Builtins_JSEntry+0x5a (/usr/bin/node)',
    ours,
  );
  assert.equal(categoryOf(fromOurs), 'ours');
  assert.equal(categoryOf(fromRedis), 'redis');
  assert.equal(categoryOf(fromLoop), 'js');
});

test('the garbage collector and the rest of V8 count apart from JavaScript', () => {
  const gc = sample('v8::internal::ScavengerCollector::CollectGarbage+0x1 (/usr/bin/node)', ours);
  const runtime = sample('v8::internal::LookupIterator::NextInternal+0x3 (/usr/bin/node)', ours);
  assert.equal(categoryOf(gc), 'gc');
  assert.equal(categoryOf(runtime), 'native');
});

test('store functions are named without their path, tiers merged', () => {
  const optimized = sample(ours);
  const baseline = sample(ours.replace('JS:*', 'JS:^'));
  const { storeFunctions, total } = splitPerfScript(optimized + '\n' + baseline);
  assert.equal(total, 2);
  assert.deepEqual([...storeFunctions], [['attempt dist/client/client.js:465:18', 2]]);
  const theirs = splitPerfScript(sample(redis)).storeFunctions;
  assert.deepEqual([...theirs], [['get connect-redis/dist/connect-redis.js:25:12', 1]]);
});
