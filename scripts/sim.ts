/**
 * The data-plane simulator from the command line (test/sim/data-plane/run.ts).
 *
 *   npm run sim -- --seeds 200              seeds 1..200, a progress bar and a summary
 *   npm run sim -- --seeds 50 --first 1000  seeds 1000..1049
 *   npm run sim -- --seed 1234 --trace      one seed, its whole trace
 *   npm run sim -- --seed 7 --bug readWithoutLease --history h.jsonl
 *
 * --bug plants one of the test-only bugs (src/core/planted-bug.ts) to see the harness catch
 * it; --history writes the clients' history as Jepsen JSON lines (of the last seed run).
 * Exits 1 when any seed found a violation, and prints the one command that replays it.
 */
import { writeFileSync } from 'node:fs';
import { plantedBugs, type PlantedBug } from '../src/core/planted-bug.js';
import { replayCommand, runSeed, type RunResult } from '../test/sim/data-plane/run.js';

function usage(message: string): never {
  console.error(`${message}\nusage: npm run sim -- [--seeds N] [--first S] [--seed S] [--trace]`);
  console.error(`       [--bug ${plantedBugs.join('|')}] [--history FILE]`);
  process.exit(2);
}

const args = process.argv.slice(2);
const value = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const v = args[i + 1];
  if (v === undefined) usage(`${name} needs a value`);
  return v;
};
const integer = (name: string, fallback: number): number => {
  const v = value(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) usage(`${name} must be a non-negative integer`);
  return n;
};
const single = value('--seed');
const first = single === undefined ? integer('--first', 1) : integer('--seed', 1);
const count = single === undefined ? integer('--seeds', 20) : 1;
const showTrace = args.includes('--trace');
const historyPath = value('--history');
const bugArg = value('--bug');
if (bugArg !== undefined && !(plantedBugs as readonly string[]).includes(bugArg)) {
  usage(`--bug must be one of ${plantedBugs.join(', ')}`);
}
const bug = bugArg as PlantedBug | undefined;

function bar(done: number, total: number, failed: number): string {
  const width = 30;
  const filled = Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} seeds, ${failed} failed`;
}

const results: RunResult[] = [];
const failed: RunResult[] = [];
const interactive = process.stderr.isTTY === true;
for (let seed = first; seed < first + count; seed++) {
  const result = await runSeed({ seed, ...(bug !== undefined && { plantedBug: bug }) });
  results.push(result);
  if (!result.ok) failed.push(result);
  if (count > 1) {
    const line = bar(results.length, count, failed.length);
    if (interactive) process.stderr.write(`\r${line}`);
    else if (results.length % 10 === 0 || results.length === count) console.error(line);
  }
  if (!result.ok) {
    if (interactive) process.stderr.write('\n');
    console.log(`\nseed ${seed}: FAILED (replay: ${replayCommand(seed, result.plantedBug)})`);
    for (const p of result.problems) console.log(`  problem: ${p}`);
    for (const v of result.violations.slice(0, 2)) console.log(`  ${v.split('\n').join('\n  ')}`);
  }
  if (historyPath !== undefined) writeFileSync(historyPath, result.historyJsonLines);
}
if (interactive && count > 1) process.stderr.write('\n');

if (showTrace) for (const r of results) console.log(r.trace.join('\n'));

const sum = (f: (r: RunResult) => number): number => results.reduce((a, r) => a + f(r), 0);
const wall = results.map((r) => r.wallMs);
console.log(
  [
    '',
    `data-plane simulator${bug === undefined ? '' : `, planted bug ${bug}`}`,
    `  seeds run:           ${results.length} (${first}..${first + count - 1})`,
    `  faults injected:     ${sum((r) => r.faults)}`,
    `  clock jumps:         ${sum((r) => r.clockJumps)} on restart (largest ${Math.max(0, ...results.map((r) => r.clockJumpMsMax))} ms, either way)`,
    `  clock spread:        largest ${Math.max(0, ...results.map((r) => r.clockSpreadMs))} ms between two clocks (the TTL check's margin)`,
    `  TTL expiries seen:   ${sum((r) => r.expiredReads)} reads found a key expired, ${sum((r) => r.expiredReadsJudged)} of them early enough to judge`,
    `  operations checked:  ${sum((r) => r.operations)} (ok ${sum((r) => r.stats.ok)}, fail ${sum((r) => r.stats.fail)}, unknown ${sum((r) => r.stats.info)})`,
    `  violations:          ${sum((r) => r.violations.length)} history (registers linearizable, counters exact, set additions kept, TTLs kept), ${sum((r) => r.problems.length)} other, in ${failed.length} seeds`,
    `  stuck partitions:    ${sum((r) => r.stuckPartitions)} (lost every in-sync copy; unavailable, not wrong)`,
    `  time per seed:       mean ${(sum((r) => r.wallMs) / results.length / 1000).toFixed(2)} s, max ${(Math.max(...wall) / 1000).toFixed(2)} s (virtual ${(sum((r) => r.virtualMs) / results.length / 1000).toFixed(1)} s)`,
    ...(results.length === 1 ? [`  trace hash:          ${results[0]!.traceHash}`] : []),
    ...failed.slice(0, 5).map((r) => `  replay: ${replayCommand(r.seed, r.plantedBug)}`),
  ].join('\n'),
);
process.exit(failed.length > 0 ? 1 : 0);
