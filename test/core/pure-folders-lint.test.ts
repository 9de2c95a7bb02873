import test from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

const worldly = [
  ["import { createServer } from 'node:net';", 'no-restricted-imports'],
  ["import { readFileSync } from 'fs';", 'no-restricted-imports'],
  ["import { startNode } from '../node/index.js';", 'no-restricted-imports'],
  ['export const t = Date.now();', 'no-restricted-properties'],
  ['export const r = Math.random();', 'no-restricted-properties'],
  ['export const d = new Date();', 'no-restricted-syntax'],
  ['setTimeout(() => undefined, 1);', 'no-restricted-globals'],
  ['export const e = process.env;', 'no-restricted-globals'],
] as const;

for (const folder of ['core', 'protocol', 'store', 'raft', 'control', 'replication']) {
  test(`the lint rules keep sockets, timers, the clock, randomness and the disk out of src/${folder}`, async () => {
    for (const [code, rule] of worldly) {
      assert.ok(
        (await ruleIds(code, `src/${folder}/example.ts`)).includes(rule),
        `${code} passed lint in src/${folder}`,
      );
    }
  });
}

test('the runtime folders may use the world', async () => {
  const code = "import { createServer } from 'node:net';\nexport const make = createServer;";
  assert.deepEqual(await ruleIds(code, 'src/node/example.ts'), []);
  assert.deepEqual(await ruleIds('export const t = Date.now();', 'src/client/example.ts'), []);
});
