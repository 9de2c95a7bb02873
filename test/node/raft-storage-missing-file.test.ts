/**
 * A data dir with a file missing fails the open with STORAGE_CORRUPT naming it. Found by
 * review: it was accepted as if the file had never been written.
 *
 * The write order makes some combinations impossible after any crash: `log` is created
 * (durably) on the first open, before anything else; `hardstate` with a term >= 1 is written
 * (step 0) before any entry or snapshot of that term; `meta` only after entries were applied.
 * recover() nevertheless accepts:
 * - entries (or a snapshot) with no `hardstate`: the node restarts at term 0 with no vote,
 *   so it can vote a second time in a term it already voted in (two leaders in one term);
 *   the "term below the last entry's term" check is skipped because hardState is null;
 * - a `hardstate` with no `log`: the acknowledged, not yet committed, entries are gone and the
 *   open quietly creates an empty log.
 * Both should be DATA_DIR_CORRUPT (STORAGE_CORRUPT) naming the missing file.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../src/raft/index.js';
import { FileRaftStorage, RaftStorageError } from '../../src/node/raft-storage.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-missing-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function normal(index: number, term: number): Entry<string> {
  return { kind: 'normal', index, term, data: `value ${index}` };
}

/** Voted for b in term 5 and acknowledged entries 1..3 (not yet known committed here). */
function writeState(dir: string): void {
  const storage = new FileRaftStorage<string>({ dir });
  storage.persist({
    hardState: { term: 5, vote: 'b', commit: 0 },
    entriesToPersist: [normal(1, 5), normal(2, 5), normal(3, 5)],
  });
  storage.close();
}

function isCorrupt(name: string) {
  return (error: unknown): boolean =>
    error instanceof RaftStorageError && error.code === 'STORAGE_CORRUPT' && error.file === name;
}

/** Opens and loads; returns what loaded, or the error the open threw. */
function openResult(dir: string): unknown {
  try {
    const storage = new FileRaftStorage<string>({ dir });
    try {
      const state = storage.load();
      return { hardState: state?.hardState, entries: state?.entries.length ?? 0 };
    } finally {
      storage.close();
    }
  } catch (error) {
    return error;
  }
}

test('entries without a hardstate file fail the open instead of forgetting the term and the vote', (t) => {
  const dir = tempDir(t);
  writeState(dir);
  unlinkSync(join(dir, 'hardstate'));
  const result = openResult(dir);
  assert.ok(isCorrupt(join(dir, 'hardstate'))(result), `opened: ${JSON.stringify(result)}`);
});

test('a hardstate without a log file fails the open instead of starting an empty log', (t) => {
  const dir = tempDir(t);
  writeState(dir);
  unlinkSync(join(dir, 'log'));
  const result = openResult(dir);
  assert.ok(isCorrupt(join(dir, 'log'))(result), `opened: ${JSON.stringify(result)}`);
});
