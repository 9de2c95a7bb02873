/**
 * The lint rules keep src/session on the client and core, and keep the web frameworks out of
 * its run time (DESIGN.md section 2: session sits on client).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function ruleIds(code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: 'src/session/example.ts' });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

test('a session store may import the client and core', async () => {
  const code =
    "import { connect } from '../client/index.js';\nimport { ErrorCode } from '../core/errors.js';\nexport const x = [connect, ErrorCode];";
  assert.deepEqual(await ruleIds(code), []);
});

test('a session store may not import the runtime or the pure parts below the client', async () => {
  for (const path of ['../node/index.js', '../store/types.js', '../protocol/index.js']) {
    const code = `import { x } from '${path}';\nexport const y = x;`;
    assert.deepEqual(await ruleIds(code), ['no-restricted-imports'], path);
  }
});

test('a session store may import a web framework for its types only', async () => {
  assert.deepEqual(
    await ruleIds("import session from 'express-session';\nexport const s = session;"),
    ['no-restricted-imports'],
  );
  assert.deepEqual(
    await ruleIds("import type { Store } from 'express-session';\nexport type S = Store;"),
    [],
  );
});
