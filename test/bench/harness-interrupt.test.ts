import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisInstalled, reportedPids, startBench, waitUntilGone } from './run-bench.js';

const runTimeoutMs = 60_000;

test('Ctrl-C during the replicated section stops the nodes, the redis-servers and the load processes', async (t) => {
  if (!redisInstalled()) {
    t.skip('redis-server is not installed');
    return;
  }
  const out = await mkdtemp(join(tmpdir(), 'statehouse-bench-'));
  t.after(() => rm(out, { recursive: true, force: true }));

  // Short phases to get to the replicated section soon; the interrupt comes within a poll of
  // the replica linking up, while its preload (200 SET + WAIT) and phases are still ahead.
  const args = ['--quick', '--keys', '200', '--seconds', '0.1', '--warmup', '0', '--out', out];
  const run = startBench(args, runTimeoutMs);
  t.after(() => run.child.kill('SIGKILL'));
  const deadline = Date.now() + runTimeoutMs;
  while (!/replica port \d+ \(pid \d+\), linked/.test(run.output())) {
    assert.ok(Date.now() < deadline && run.child.exitCode === null, run.output());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  run.child.kill('SIGINT');
  const code = await run.exited;
  const output = run.output();
  assert.equal(code, 130, output);
  assert.match(output, /SIGINT: stopping the servers/);
  // The single-node section's node, redis-server and three load processes; the replicated
  // section's three nodes, its Statehouse load process, the redis primary and its replica;
  // and a Redis load process too when the bench started one before the signal arrived (the
  // test polls for the link every 20 ms, and one CI run saw it). Every one must be gone.
  const pids = reportedPids(output);
  assert.ok(pids.length === 5 + 6 || pids.length === 5 + 7, `${pids.length} pids\n${output}`);
  assert.deepEqual(await waitUntilGone(pids, 5_000), [], 'servers left running');
});
