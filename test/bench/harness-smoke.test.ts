import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport } from '../../bench/report.js';
import { redisInstalled, reportedPids, startBench, waitUntilGone } from './run-bench.js';

const runTimeoutMs = 60_000;
/**
 * Quick mode with shorter phases and fewer keys: this checks that every section runs and
 * reports, not the figures, and stays well under half a minute on a two-core machine.
 */
const smokeArgs = ['--quick', '--seconds', '0.3', '--warmup', '0.1', '--keys', '500'];

test('the bench in quick mode reports both sections and stops every server it started', async (t) => {
  if (!redisInstalled()) {
    t.skip('redis-server is not installed');
    return;
  }
  const out = await mkdtemp(join(tmpdir(), 'statehouse-bench-'));
  t.after(() => rm(out, { recursive: true, force: true }));

  const run = startBench([...smokeArgs, '--out', out], runTimeoutMs);
  const code = await run.exited;
  const output = run.output();
  assert.equal(code, 0, output);

  // One node and one redis-server, then three nodes, a redis primary and its replica.
  const pids = reportedPids(output);
  assert.equal(pids.length, 7, output);
  assert.deepEqual(await waitUntilGone(pids, 5_000), [], 'servers left running');

  const report = JSON.parse(await readFile(join(out, 'latest.json'), 'utf8')) as BenchReport;
  assert.deepEqual(
    report.systems.map((s) => s.id),
    ['statehouse', 'redis-auto', 'redis-pool'],
  );
  for (const system of report.systems) {
    for (const [phase, result] of Object.entries(system.phases)) {
      assert.ok(result.opsPerSec > 0, `${system.id} ${phase}: ${result.opsPerSec} ops/s`);
      assert.ok(result.p99Ms > 0, `${system.id} ${phase}: p99 ${result.p99Ms} ms`);
    }
  }
  assert.equal(report.ratios.length, 6);
  assert.ok(report.memory.redis.usedMemoryBytesPerEntry > 0);

  const { replicated } = report;
  assert.deepEqual(
    replicated.systems.map((s) => [s.id, s.serverProcesses]),
    [
      ['statehouse', 3],
      ['redis-auto', 2],
      ['redis-pool', 2],
    ],
  );
  assert.equal(replicated.settings.replicationFactor, 2);
  assert.equal(replicated.settings.statehouseDurability, 'sync');
  for (const system of replicated.systems) {
    assert.deepEqual(Object.keys(system.phases), ['set', 'mix']);
    for (const [phase, result] of Object.entries(system.phases)) {
      assert.ok(
        result.opsPerSec > 0,
        `replicated ${system.id} ${phase}: ${result.opsPerSec} ops/s`,
      );
      assert.ok(result.p99Ms > 0, `replicated ${system.id} ${phase}: p99 ${result.p99Ms} ms`);
      // Every SET was acknowledged by the replica (WAIT answered 1), every sync write by both copies.
      assert.equal(result.errors, 0, `replicated ${system.id} ${phase}: ${result.errors} errors`);
    }
  }
  const { checks } = replicated.targets;
  assert.equal(checks.length, 4);
  for (const c of checks) {
    assert.equal(c.throughputMet, c.throughput >= replicated.targets.throughputRatioMin);
    assert.equal(c.p99Met, c.p99 <= replicated.targets.p99RatioMax);
  }
  assert.equal(
    replicated.targets.metEverywhere,
    checks.every((c) => c.throughputMet && c.p99Met),
  );

  const markdown = await readFile(join(out, 'latest.md'), 'utf8');
  assert.match(markdown, /\| 100% get \| Statehouse \| [\d,]+ \|/);
  assert.match(markdown, /\| 100% get \| Redis, auto-pipelined \| [\d,]+ \|/);
  assert.match(markdown, /^## Replicated: 3 Statehouse nodes \(RF=2\)/m);
  assert.match(markdown, /\| 100% set \| Statehouse, 3 nodes, RF=2 \| [\d,]+ \|/);
  assert.match(markdown, /\| 100% set \| Redis \+ replica, WAIT 1, auto-pipelined \| [\d,]+ \|/);
  assert.match(markdown, /^Targets (met|\*\*not met\*\*) in every phase/m);
});
