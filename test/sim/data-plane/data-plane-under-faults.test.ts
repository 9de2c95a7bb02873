/**
 * The data-plane simulator (run.ts) over a fixed budget of seeds: under loss, delay,
 * duplication, partitions, crashes, restarts with clock jumps, pauses and clock drift, every
 * key's history is linearizable, and once healed the cluster settles and answers again.
 * DATA_SIM_SEEDS and DATA_SIM_SEED widen or move the budget; `npm run sim -- --seeds N` runs
 * many more.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { replayCommand, runSeed, type RunResult } from './run.js';

const seeds = Number(process.env['DATA_SIM_SEEDS'] ?? 10);
const firstSeed = Number(process.env['DATA_SIM_SEED'] ?? 1);

function report(r: RunResult): string {
  return [
    `seed ${r.seed} failed; replay: ${replayCommand(r.seed, r.plantedBug)}`,
    ...r.problems,
    ...r.violations.slice(0, 1),
  ].join('\n');
}

test('the same seed runs the same cluster, byte for byte', async () => {
  // Seed 2 restarts a node in its short run, so the clock jump's own random stream is in it.
  const a = await runSeed({ seed: 2, safetyMs: 6_000 });
  const b = await runSeed({ seed: 2, safetyMs: 6_000 });
  assert.ok(a.operations > 100 && a.faults > 3 && a.clockJumps > 0, 'the run did something');
  assert.equal(a.traceHash, b.traceHash);
  assert.equal(a.historyJsonLines, b.historyJsonLines);
  assert.deepEqual(a.trace, b.trace);
});

/**
 * Seeds that fail for a reason found and not fixed yet: they still run, reported as TODO,
 * so that the fix shows up as a pass. None now: the last ones (16, 20, 26, 31, 39, 51 of the
 * first 60, a new incarnation removed by the one it replaced) pass since the fixes tested in
 * test/control/a-replaced-incarnation-stays-replaced-when-the-new-one-dies.test.ts and
 * test/node/a-dead-voter-is-not-revived-by-rejoining-raft.test.ts.
 */
const knownOpen = new Map<number, string>();

for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
  const todo = knownOpen.get(seed);
  test(
    `seed ${seed}: every key's history is linearizable under faults, and the cluster answers again once healed (replay: ${replayCommand(seed, null)})`,
    {
      ...(todo !== undefined && { todo }),
    },
    async () => {
      const r = await runSeed({ seed });
      assert.ok(r.ok, report(r));
      assert.ok(r.operations > 100, `only ${r.operations} operations were checked`);
    },
  );
}
