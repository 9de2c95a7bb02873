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
  // The single-node section starts six processes: a node for the memory figures (stopped
  // before the timed phases), the timed node, redis-server and three load processes. The
  // replicated section, by the time it reports the link, has three nodes, its Statehouse load
  // process, the redis primary and its replica; the bench may also have started one or both
  // Redis load processes before the signal arrived (the test polls for the link every 20 ms,
  // and a slow CI machine got through the 200-key preload in that time). Every one must be gone.
  const split = output.indexOf('statehouse cluster:');
  assert.ok(split > 0, output);
  const single = reportedPids(output.slice(0, split));
  const replicated = reportedPids(output.slice(split));
  assert.equal(single.length, 6, `single-node section pids\n${output}`);
  assert.ok(
    replicated.length >= 6 && replicated.length <= 8,
    `${replicated.length} replicated-section pids\n${output}`,
  );
  const pids = [...single, ...replicated];
  assert.deepEqual(await waitUntilGone(pids, 5_000), [], 'servers left running');
});
