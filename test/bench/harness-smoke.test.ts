import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport } from '../../bench/report.js';
import { redisInstalled, reportedPids, startBench, waitUntilGone } from './run-bench.js';

const runTimeoutMs = 150_000;
/**
 * Quick mode with shorter phases and fewer keys: this checks that every section runs and
 * reports, not the figures. Most of its time is starting processes (each node and shop loads
 * through tsx): on this two-core machine under a load average of 11-15 from other work, the
 * run took 37 s without the HTTP section and about 80 s with it; hence the generous limit.
 */
const smokeArgs = [
  '--quick',
  '--seconds',
  '0.3',
  '--warmup',
  '0.1',
  '--keys',
  '500',
  '--http-seconds',
  '0.3',
  '--http-warmup',
  '0.1',
  '--http-connections',
  '4',
];

test('the bench in quick mode reports every section and stops every process it started', async (t) => {
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

  // Two nodes (one whose memory is measured, one for the timed phases) and one redis-server,
  // then three nodes, a redis primary and its replica, each section with a load process per
  // system (Statehouse, Redis auto-pipelined, Redis pool); then for the HTTP section a
  // redis-server, one node, three nodes, and a shop beside each.
  const pids = reportedPids(output);
  assert.equal(pids.length, 3 + 3 + 5 + 3 + 8, output);
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
  // Idle for one phase length; a node ticks every 50 ms, so the cluster always uses some CPU.
  const phaseSeconds = Number(smokeArgs[smokeArgs.indexOf('--seconds') + 1]);
  assert.ok(replicated.idle.seconds >= phaseSeconds, `idle for ${replicated.idle.seconds} s`);
  assert.ok(
    replicated.idle.statehouseCpuMsPerSec > 0,
    `idle nodes: ${replicated.idle.statehouseCpuMsPerSec} ms/s`,
  );
  assert.ok(
    Number.isFinite(replicated.idle.redisCpuMsPerSec) && replicated.idle.redisCpuMsPerSec >= 0,
    `idle redis: ${replicated.idle.redisCpuMsPerSec} ms/s`,
  );

  const { http } = report;
  assert.deepEqual(
    http.systems.map((s) => [s.id, s.serverProcesses]),
    [
      ['redis', 1],
      ['statehouse-1', 1],
      ['statehouse-3', 3],
    ],
  );
  for (const system of http.systems) {
    assert.ok(system.requestsPerSec > 0, `http ${system.id}: ${system.requestsPerSec} requests/s`);
    assert.ok(system.p99Ms > 0, `http ${system.id}: p99 ${system.p99Ms} ms`);
    assert.equal(system.non2xx + system.errors + system.timeouts, 0, `http ${system.id}`);
    assert.equal(system.roundRequestsPerSec.length, http.settings.rounds, `http ${system.id}`);
  }
  for (const check of http.targets.checks) {
    const { lowest, highest } = check.requestsPerSecRounds;
    assert.ok(0 < lowest && lowest <= highest, `http ${check.system}: ${lowest} to ${highest}`);
  }
  assert.deepEqual(
    http.targets.checks.map((c) => [c.system, c.versus]),
    [
      ['statehouse-1', 'redis'],
      ['statehouse-3', 'redis'],
    ],
  );

  const markdown = await readFile(join(out, 'latest.md'), 'utf8');
  assert.match(markdown, /\| 100% get \| Statehouse \| [\d,]+ \|/);
  assert.match(markdown, /\| 100% get \| Redis, auto-pipelined \| [\d,]+ \|/);
  assert.match(markdown, /^## Replicated: 3 Statehouse nodes \(RF=2\)/m);
  assert.match(markdown, /\| 100% set \| Statehouse, 3 nodes, RF=2 \| [\d,]+ \|/);
  // The last column: the cores the client and the nodes kept busy, ops/s times their CPU per op.
  assert.match(
    markdown,
    /^\| 100% set \| Statehouse, 3 nodes, RF=2 (\| [^|]+ ){6}\| \d+\.\d\d \|$/m,
  );
  assert.match(markdown, /\| 100% set \| Redis \+ replica, WAIT 1, auto-pipelined \| [\d,]+ \|/);
  assert.match(markdown, /^Targets (met|\*\*not met\*\*) in every phase/m);
  assert.match(markdown, /^## HTTP: the shop's cart API/m);
  assert.match(markdown, /\| connect-redis, 1 redis-server \| [\d,]+ \|/);
  assert.match(markdown, /\| Statehouse, 3 nodes, RF=2 \| [\d.]+x \|/);
});
