import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import type { Entry, Snapshot } from '../../src/raft/index.js';
import { FileRaftStorage, RaftStorageError } from '../../src/node/raft-storage.js';
import { crc32Portable } from '../../src/node/raft-storage-file.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-raft-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function normal(index: number, term: number): Entry<string> {
  return { kind: 'normal', index, term, data: `value ${index} `.repeat(index) };
}

function snapshotAt(index: number, term: number): Snapshot {
  return {
    meta: { index, term, membership: { voters: ['a'], learners: [] } },
    data: new Uint8Array([index]),
  };
}

/** Writes entries 1..count, one persist (one record, one fsync) each; returns each record's end. */
function writeLog(dir: string, count: number): number[] {
  const storage = new FileRaftStorage<string>({ dir });
  const ends: number[] = [];
  try {
    storage.persist({ hardState: { term: 1, vote: 'a', commit: 0 }, entriesToPersist: [] });
    for (let i = 1; i <= count; i++) {
      storage.persist({ entriesToPersist: [normal(i, 1)] });
      ends.push(statSync(join(dir, 'log')).size);
    }
  } finally {
    storage.close();
  }
  return ends;
}

function openAndLoad(dir: string): readonly Entry<string>[] {
  const storage = new FileRaftStorage<string>({ dir });
  try {
    return storage.load()?.entries ?? [];
  } finally {
    storage.close();
  }
}

test('a torn append at the end of the log is dropped and the file is cut back to the last whole record', (t) => {
  const root = tempDir(t);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (count, cut) => {
        const dir = mkdtempSync(join(root, 'run-'));
        const ends = writeLog(dir, count);
        const full = ends[ends.length - 1] ?? 0;
        const size = Math.min(full - 1, Math.floor(full * cut));
        truncateSync(join(dir, 'log'), size);
        const whole = ends.filter((end) => end <= size).length;
        assert.deepEqual(
          openAndLoad(dir),
          Array.from({ length: whole }, (_, k) => normal(k + 1, 1)),
        );
        assert.equal(statSync(join(dir, 'log')).size, whole === 0 ? 0 : ends[whole - 1]);
        // The repaired log takes appends again, right after the last whole record.
        const storage = new FileRaftStorage<string>({ dir });
        storage.persist({ entriesToPersist: [normal(whole + 1, 1)] });
        storage.close();
        assert.equal(openAndLoad(dir).at(-1)?.index, whole + 1);
      },
    ),
    { numRuns: 40 },
  );
});

test('zeros or garbage past the last record, as a torn append can leave, are dropped', (t) => {
  const root = tempDir(t);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 1, max: 5000 }).map((n) => new Uint8Array(n)),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
      ),
      (tail) => {
        const dir = mkdtempSync(join(root, 'run-'));
        const ends = writeLog(dir, 3);
        appendFileSync(join(dir, 'log'), tail);
        assert.deepEqual(openAndLoad(dir), [normal(1, 1), normal(2, 1), normal(3, 1)]);
        assert.equal(statSync(join(dir, 'log')).size, ends[2]);
      },
    ),
    { numRuns: 40 },
  );
});

test('a damaged byte anywhere in a middle record fails the open, naming the log and the record offset', (t) => {
  const dir = tempDir(t);
  const ends = writeLog(dir, 3);
  const logPath = join(dir, 'log');
  const original = readFileSync(logPath);
  const middle = ends[0] ?? 0;
  const middleEnd = ends[1] ?? 0;
  for (let position = middle; position < middleEnd; position++) {
    const damaged = Buffer.from(original);
    damaged[position] = (damaged[position] ?? 0) ^ 0x5a;
    writeFileSync(logPath, damaged);
    assert.throws(
      () => new FileRaftStorage<string>({ dir }),
      (error: unknown) =>
        error instanceof RaftStorageError &&
        error.code === 'STORAGE_CORRUPT' &&
        error.file === logPath &&
        error.offset === middle &&
        error.message.includes(logPath) &&
        error.message.includes(`offset ${middle}`),
      `a flip at byte ${position}`,
    );
    assert.deepEqual(readFileSync(logPath), damaged, 'a failed open leaves the file as it was');
    assert.equal(existsSync(join(dir, 'LOCK')), false, 'a failed open releases the lock');
  }
  writeFileSync(logPath, original);
  assert.equal(openAndLoad(dir).length, 3);
});

test('a commit index beyond the stored log fails the open instead of forgetting committed entries', (t) => {
  const dir = tempDir(t);
  const ends = writeLog(dir, 3);
  const storage = new FileRaftStorage<string>({ dir });
  storage.persist({ hardState: { term: 1, vote: 'a', commit: 3 }, entriesToPersist: [] });
  storage.close();
  // A clean cut at a record boundary looks like a shorter log: only the commit gives it away.
  truncateSync(join(dir, 'log'), ends[1] ?? 0);
  assert.throws(
    () => new FileRaftStorage<string>({ dir }),
    (error: unknown) =>
      error instanceof RaftStorageError &&
      error.code === 'STORAGE_CORRUPT' &&
      error.file === join(dir, 'hardstate') &&
      /commit index 3 is beyond the last stored entry 2/.test(error.message),
  );
});

test('a crash between writing a snapshot and rewriting the log completes the compaction on open', (t) => {
  const dir = tempDir(t);
  writeLog(dir, 5);
  const before = join(dir, 'log.before');
  copyFileSync(join(dir, 'log'), before);
  const storage = new FileRaftStorage<string>({ dir });
  storage.persist({ snapshotToPersist: snapshotAt(3, 1), entriesToPersist: [] });
  storage.close();
  copyFileSync(before, join(dir, 'log')); // as if the log rewrite never happened
  rmSync(before);
  const reopened = new FileRaftStorage<string>({ dir });
  t.after(() => reopened.close());
  assert.deepEqual(reopened.load()?.entries, [normal(4, 1), normal(5, 1)]);
  assert.deepEqual(reopened.load()?.snapshot, snapshotAt(3, 1));
});

test("a crash between writing a leader's snapshot and rewriting the log drops the abandoned entries", (t) => {
  const dir = tempDir(t);
  writeLog(dir, 5);
  const before = join(dir, 'log.before');
  copyFileSync(join(dir, 'log'), before);
  const storage = new FileRaftStorage<string>({ dir });
  // Entry 3 has term 1 here; the leader's snapshot says term 2: entries 4 and 5 are abandoned.
  storage.persist({
    hardState: { term: 2, vote: null, commit: 3 },
    snapshotToPersist: snapshotAt(3, 2),
    truncateFrom: 4,
    entriesToPersist: [],
  });
  storage.close();
  copyFileSync(before, join(dir, 'log'));
  rmSync(before);
  const reopened = new FileRaftStorage<string>({ dir });
  t.after(() => reopened.close());
  assert.deepEqual(reopened.load(), {
    hardState: { term: 2, vote: null, commit: 3 },
    snapshot: snapshotAt(3, 2),
    entries: [],
  });
});

test('a replacement that crashed before its rename leaves the old file, and the leftover is removed', (t) => {
  const dir = tempDir(t);
  writeLog(dir, 2);
  writeFileSync(join(dir, 'hardstate.tmp'), 'half a write');
  writeFileSync(join(dir, 'log.tmp'), 'half a rewrite');
  const storage = new FileRaftStorage<string>({ dir });
  t.after(() => storage.close());
  assert.deepEqual(storage.load()?.hardState, { term: 1, vote: 'a', commit: 0 });
  assert.equal(storage.load()?.entries.length, 2);
  assert.equal(existsSync(join(dir, 'hardstate.tmp')), false);
  assert.equal(existsSync(join(dir, 'log.tmp')), false);
});

test('a damaged hardstate file fails the open, naming it', (t) => {
  const dir = tempDir(t);
  writeLog(dir, 1);
  const path = join(dir, 'hardstate');
  const bytes = readFileSync(path);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
  writeFileSync(path, bytes);
  assert.throws(
    () => new FileRaftStorage<string>({ dir }),
    (error: unknown) =>
      error instanceof RaftStorageError &&
      error.code === 'STORAGE_CORRUPT' &&
      error.file === path &&
      error.message.includes(path),
  );
});

test('the portable CRC-32 gives the standard check value and agrees with zlib', () => {
  assert.equal(crc32Portable(new TextEncoder().encode('123456789')), 0xcbf43926);
  const native = (zlib as Record<string, unknown>)['crc32'];
  if (typeof native !== 'function') return;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assert.equal(crc32Portable(bytes), (native as (b: Uint8Array) => number)(bytes) >>> 0);
    }),
  );
});
