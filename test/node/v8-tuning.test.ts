/**
 * `statehouse node` lowers V8's interrupt budget (src/node/v8-tuning.ts) so that a node's
 * periodic work is optimized within seconds instead of minutes. The flag is V8's, not ours:
 * if a Node upgrade renamed or dropped it, setFlagsFromString would ignore it silently, and
 * only this test would notice.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tuning = fileURLToPath(new URL('../../src/node/v8-tuning.ts', import.meta.url));

/** A function as small as a tick's helpers, in a module of its own as theirs are. */
const periodicModule = `export function periodic(n) {
  let s = 0;
  for (let i = 0; i < 3; i++) s += (n * i) % 7;
  return JSON.stringify({ s, list: [n, s] }).length;
}
`;

/** Runs the function a few times per turn, as a tick would; counts turns until it is optimized. */
function turnsUntilOptimized(dir: string, tune: boolean): number {
  const main = `const { tuneV8ForNodeProcess } = await import(${JSON.stringify(tuning)});
if (${tune}) tuneV8ForNodeProcess();
const { periodic } = await import('./periodic.mjs');
const optimized = 16; // V8's OptimizationStatus::kOptimized
let turns = 0;
await new Promise((resolve) => {
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) periodic(i);
    turns++;
    if ((%GetOptimizationStatus(periodic) & optimized) !== 0 || turns === 5000) {
      clearInterval(timer);
      resolve();
    }
  }, 0);
});
console.log(turns);
`;
  writeFileSync(join(dir, 'main.mjs'), main);
  const out = execFileSync(
    process.execPath,
    ['--allow-natives-syntax', '--import', 'tsx', join(dir, 'main.mjs')],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}

test('with the node tuning, a function run once per turn is optimized after far fewer turns', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-v8-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'periodic.mjs'), periodicModule);
  const tuned = turnsUntilOptimized(dir, true);
  const untuned = turnsUntilOptimized(dir, false);
  assert.ok(tuned < 5000, `tuned: never optimized (${tuned} turns)`);
  assert.ok(tuned * 3 < untuned, `tuned after ${tuned} turns, untuned after ${untuned}`);
});
