import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from '../../bench/report.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runTimeoutMs = 60_000;

function redisInstalled(): boolean {
  return spawnSync('redis-server', ['--version']).error === undefined;
}

/** Runs `node --import tsx bench/run.ts ...args`; resolves with its exit code and output. */
function runBench(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // SIGTERM lets the bench stop its redis-server and node process before it exits.
    const timer = setTimeout(() => child.kill('SIGTERM'), runTimeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test('the bench in quick mode reports positive throughput for Statehouse and both Redis setups', async (t) => {
  if (!redisInstalled()) {
    t.skip('redis-server is not installed');
    return;
  }
  const out = await mkdtemp(join(tmpdir(), 'statehouse-bench-'));
  t.after(() => rm(out, { recursive: true, force: true }));

  const { code, output } = await runBench(['--quick', '--out', out]);
  assert.equal(code, 0, output);

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

  const markdown = await readFile(join(out, 'latest.md'), 'utf8');
  assert.match(markdown, /\| 100% get \| Statehouse \| [\d,]+ \|/);
  assert.match(markdown, /\| 100% get \| Redis, auto-pipelined \| [\d,]+ \|/);
});
