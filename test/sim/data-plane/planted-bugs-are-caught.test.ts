/**
 * The harness is trusted only after it has caught planted bugs (STYLE.md): each bug of
 * src/core/planted-bug.ts must make the simulator's checkers report a violation of
 * the history (linearizability, or the expiry bounds for backupDropsExpiry) within 50 seeds, and the seed that caught it must pass with the bug off, so that
 * what was caught is the bug and nothing else.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { plantedBugs } from '../../../src/core/planted-bug.js';
import { replayCommand, runSeed } from './run.js';

const seedsMax = 50;

for (const bug of plantedBugs) {
  test(`the simulator catches the planted bug ${bug} within ${seedsMax} seeds, and the same seed passes without it`, async () => {
    // A seed counts only if the same seed passes without the bug: then what was caught is
    // the bug. (A seed that fails on its own, an open finding, proves nothing either way.)
    let caught: number | null = null;
    const failingAlone: number[] = [];
    for (let seed = 1; seed <= seedsMax && caught === null; seed++) {
      const r = await runSeed({ seed, plantedBug: bug });
      if (r.violations.length === 0) continue;
      if ((await runSeed({ seed })).ok) caught = seed;
      else failingAlone.push(seed);
    }
    assert.ok(
      caught !== null,
      `${bug} went unnoticed for ${seedsMax} seeds (failing without it too: ${failingAlone.join(', ')})`,
    );
    console.log(`${bug}: caught at seed ${caught} (${replayCommand(caught, bug)})`);
  });
}

test('no node option, CLI flag or protocol message can plant a bug', () => {
  const root = new URL('../../../src/', import.meta.url);
  const files = [
    'node/start-node.ts',
    'cli/main.ts',
    ...readdirSync(new URL('protocol/', root)).map((f) => `protocol/${f}`),
  ];
  for (const file of files) {
    const text = readFileSync(new URL(file, root), 'utf8');
    assert.ok(!/plantedBug|planted-bug/.test(text), `${file} mentions a planted bug`);
  }
});
