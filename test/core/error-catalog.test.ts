import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ErrorCode } from '../../src/core/errors.js';

const documented = new Set(
  [
    ...readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8').matchAll(
      /^\| `([A-Z_]+)` \|/gm,
    ),
  ].map((m) => m[1]),
);

test('every error code is documented in docs/errors.md', () => {
  for (const code of Object.values(ErrorCode))
    assert.ok(documented.has(code), `${code} is missing from docs/errors.md`);
});

test('docs/errors.md documents no code that does not exist', () => {
  const codes = new Set<string>(Object.values(ErrorCode));
  for (const code of documented)
    assert.ok(codes.has(code!), `docs/errors.md documents unknown code ${code}`);
});
