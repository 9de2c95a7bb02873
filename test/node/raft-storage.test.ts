import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AssertionError } from '../../src/core/assert.js';
import type { Entry, HardState, PersistedState, Snapshot } from '../../src/raft/index.js';
import {
  FileRaftStorage,
  MemoryRaftStorage,
  type PersistWork,
  type RaftStorage,
} from '../../src/node/raft-storage.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-raft-storage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const membership = { voters: ['a', 'b', 'c'], learners: ['d'] };

function normal(index: number, term: number, data: unknown = `v${index}`): Entry<unknown> {
  return { kind: 'normal', index, term, data };
}

function snapshotAt(index: number, term: number): Snapshot {
  return { meta: { index, term, membership }, data: new Uint8Array([index, term, 7]) };
}

/**
 * Persists `work`. Raft writes a hard state of at least an entry's term before the entry, and a
 * file storage refuses entries found without one, so tests that store entries give it first.
 */
function persist(storage: RaftStorage<unknown>, work: Partial<PersistWork<unknown>>): void {
  storage.persist({ entriesToPersist: [], ...work });
}

/** A storage under test, and how to restart it: reopen the dir, or keep the memory. */
interface Harness {
  readonly storage: RaftStorage<unknown>;
  /** Closes and opens again; the memory storage stays the same object. */
  reopen(): RaftStorage<unknown>;
}

const kinds: readonly { name: string; open(t: TestContext): Harness }[] = [
  {
    name: 'in memory',
    open: () => {
      const storage = new MemoryRaftStorage<unknown>();
      return { storage, reopen: () => storage };
    },
  },
  {
    name: 'in a file',
    open: (t) => {
      const dir = tempDir(t);
      let storage: RaftStorage<unknown> = new FileRaftStorage<unknown>({ dir });
      t.after(() => storage.close());
      return {
        get storage() {
          return storage;
        },
        reopen() {
          storage.close();
          storage = new FileRaftStorage<unknown>({ dir });
          return storage;
        },
      };
    },
  },
];

for (const kind of kinds) {
  test(`load returns null until something is persisted (${kind.name})`, (t) => {
    const h = kind.open(t);
    assert.equal(h.storage.load(), null);
    persist(h.storage, {});
    assert.equal(h.reopen().load(), null);
    persist(h.storage, { hardState: { term: 1, vote: null, commit: 0 } });
    assert.deepEqual(h.reopen().load(), {
      hardState: { term: 1, vote: null, commit: 0 },
      snapshot: null,
      entries: [],
    });
  });

  test(`persist then load round-trips the hard state, the snapshot and the entries (${kind.name})`, (t) => {
    const h = kind.open(t);
    const entries: Entry<unknown>[] = [
      normal(4, 2, { user: 'ann', tags: ['x', 'y'], n: -1.5, bytes: new Uint8Array([0, 255]) }),
      { kind: 'config', index: 5, term: 2, change: { type: 'addLearner', node: 'e' }, membership },
      { kind: 'noop', index: 6, term: 3 },
      normal(7, 3, null),
    ];
    const hardState: HardState = { term: 3, vote: 'b', commit: 6 };
    persist(h.storage, { snapshotToPersist: snapshotAt(3, 2), entriesToPersist: entries });
    persist(h.storage, { hardState });
    const expected: PersistedState<unknown> = {
      hardState,
      snapshot: snapshotAt(3, 2),
      entries,
    };
    assert.deepEqual(h.storage.load(), expected);
    assert.deepEqual(h.reopen().load(), expected);
  });

  test(`truncateFrom removes the entries at and after its index (${kind.name})`, (t) => {
    const h = kind.open(t);
    persist(h.storage, {
      hardState: { term: 2, vote: null, commit: 0 },
      entriesToPersist: [1, 2, 3, 4, 5].map((i) => normal(i, 1)),
    });
    persist(h.storage, { truncateFrom: 3 });
    assert.deepEqual(h.storage.load()?.entries, [normal(1, 1), normal(2, 1)]);
    assert.deepEqual(h.reopen().load()?.entries, [normal(1, 1), normal(2, 1)]);
    persist(h.storage, { truncateFrom: 3, entriesToPersist: [normal(3, 2, 'new')] });
    assert.deepEqual(h.reopen().load()?.entries, [normal(1, 1), normal(2, 1), normal(3, 2, 'new')]);
  });

  test(`entries at an index already stored replace it and every entry after it (${kind.name})`, (t) => {
    const h = kind.open(t);
    persist(h.storage, {
      hardState: { term: 2, vote: null, commit: 0 },
      entriesToPersist: [1, 2, 3, 4, 5].map((i) => normal(i, 1)),
    });
    persist(h.storage, { entriesToPersist: [normal(3, 2, 'x'), normal(4, 2, 'y')] });
    const expected = [normal(1, 1), normal(2, 1), normal(3, 2, 'x'), normal(4, 2, 'y')];
    assert.deepEqual(h.storage.load()?.entries, expected);
    assert.deepEqual(h.reopen().load()?.entries, expected);
    persist(h.storage, { entriesToPersist: [normal(5, 2, 'z')] });
    assert.deepEqual(h.reopen().load()?.entries, [...expected, normal(5, 2, 'z')]);
  });

  test(`a snapshot discards the stored entries at or below its index and keeps the ones after (${kind.name})`, (t) => {
    const h = kind.open(t);
    persist(h.storage, {
      hardState: { term: 2, vote: null, commit: 0 },
      entriesToPersist: [1, 2, 3, 4, 5].map((i) => normal(i, 1)),
    });
    persist(h.storage, { snapshotToPersist: snapshotAt(3, 1) });
    const expected = { snapshot: snapshotAt(3, 1), entries: [normal(4, 1), normal(5, 1)] };
    assert.deepEqual(h.storage.load(), {
      hardState: { term: 2, vote: null, commit: 0 },
      ...expected,
    });
    assert.deepEqual(h.reopen().load()?.entries, expected.entries);
    persist(h.storage, { entriesToPersist: [normal(6, 1)] });
    persist(h.storage, { snapshotToPersist: snapshotAt(6, 1) });
    assert.deepEqual(h.reopen().load()?.entries, []);
    persist(h.storage, { entriesToPersist: [normal(7, 2)] });
    assert.deepEqual(h.reopen().load()?.entries, [normal(7, 2)]);
  });

  test(`a leader's snapshot with truncateFrom after it replaces the whole log (${kind.name})`, (t) => {
    const h = kind.open(t);
    persist(h.storage, { entriesToPersist: [1, 2, 3, 4, 5].map((i) => normal(i, 1)) });
    persist(h.storage, {
      snapshotToPersist: snapshotAt(9, 4),
      truncateFrom: 10,
      hardState: { term: 4, vote: null, commit: 9 },
    });
    assert.deepEqual(h.reopen().load(), {
      hardState: { term: 4, vote: null, commit: 9 },
      snapshot: snapshotAt(9, 4),
      entries: [],
    });
  });

  test(`persisting entries that would leave a gap in the log is refused (${kind.name})`, (t) => {
    const h = kind.open(t);
    persist(h.storage, {
      hardState: { term: 2, vote: null, commit: 0 },
      entriesToPersist: [normal(1, 1)],
    });
    assert.throws(() => persist(h.storage, { entriesToPersist: [normal(3, 1)] }), AssertionError);
    assert.throws(
      () => persist(h.storage, { entriesToPersist: [normal(2, 1), normal(4, 1)] }),
      /would leave a gap/,
    );
    assert.deepEqual(h.reopen().load()?.entries, [normal(1, 1)]);
  });

  test(`readMeta returns the identity writeMeta stored (${kind.name})`, (t) => {
    const h = kind.open(t);
    assert.equal(h.storage.readMeta(), null);
    const meta = { clusterId: 'c-1', nodeId: 'node-1~abc', incarnation: 'node-1~abc' };
    h.storage.writeMeta(meta);
    assert.deepEqual(h.storage.readMeta(), meta);
    assert.deepEqual(h.reopen().readMeta(), meta);
    assert.equal(h.storage.load(), null, 'the identity alone is not Raft state');
  });
}

// ---------------------------------------------------------------------------------------
// Memory against file against a plain model, over random Raft-shaped histories.

type Op =
  | { readonly op: 'append'; readonly count: number; readonly newTerm: boolean }
  | {
      readonly op: 'replace';
      readonly back: number;
      readonly count: number;
      readonly withTruncate: boolean;
    }
  | { readonly op: 'truncate'; readonly back: number }
  | { readonly op: 'commit'; readonly ahead: number }
  | { readonly op: 'vote'; readonly vote: string | null; readonly newTerm: boolean }
  | { readonly op: 'compact'; readonly back: number }
  | { readonly op: 'install'; readonly ahead: number }
  | { readonly op: 'reopen' };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 4 }),
      newTerm: fc.boolean(),
    }),
    weight: 5,
  },
  fc.record({
    op: fc.constant('replace' as const),
    back: fc.nat(4),
    count: fc.integer({ min: 1, max: 3 }),
    withTruncate: fc.boolean(),
  }),
  fc.record({ op: fc.constant('truncate' as const), back: fc.nat(4) }),
  { arbitrary: fc.record({ op: fc.constant('commit' as const), ahead: fc.nat(5) }), weight: 2 },
  fc.record({
    op: fc.constant('vote' as const),
    vote: fc.constantFrom('a', 'b', null),
    newTerm: fc.boolean(),
  }),
  { arbitrary: fc.record({ op: fc.constant('compact' as const), back: fc.nat(3) }), weight: 2 },
  fc.record({ op: fc.constant('install' as const), ahead: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('reopen' as const) }),
);

/** The obvious storage: a map from index to entry, changed exactly as the contract says. */
class Model {
  hard: HardState | null = null;
  snapshot: Snapshot | null = null;
  readonly log = new Map<number, Entry<unknown>>();

  get term(): number {
    return this.hard?.term ?? 0;
  }
  get commit(): number {
    return this.hard?.commit ?? 0;
  }
  get snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }
  get lastIndex(): number {
    return Math.max(this.snapshotIndex, ...this.log.keys());
  }

  apply(work: PersistWork<unknown>): void {
    if (work.snapshotToPersist) {
      this.snapshot = work.snapshotToPersist;
      for (const i of [...this.log.keys()]) if (i <= this.snapshotIndex) this.log.delete(i);
    }
    if (work.truncateFrom !== undefined) {
      for (const i of [...this.log.keys()]) if (i >= work.truncateFrom) this.log.delete(i);
    }
    const first = work.entriesToPersist[0];
    if (first) for (const i of [...this.log.keys()]) if (i >= first.index) this.log.delete(i);
    for (const e of work.entriesToPersist)
      if (e.index > this.snapshotIndex) this.log.set(e.index, e);
    if (work.hardState) this.hard = work.hardState;
  }

  load(): PersistedState<unknown> | null {
    if (this.hard === null && this.snapshot === null && this.log.size === 0) return null;
    return {
      hardState: this.hard ?? { term: 0, vote: null, commit: 0 },
      snapshot: this.snapshot,
      entries: [...this.log.values()].sort((x, y) => x.index - y.index),
    };
  }

  /** Turns an abstract step into the storage part of a Ready that Raft could produce. */
  work(op: Op): PersistWork<unknown> | null {
    const hardWith = (changes: Partial<HardState>): HardState => ({
      term: this.term,
      vote: this.hard?.vote ?? null,
      commit: this.commit,
      ...changes,
    });
    const entriesFrom = (from: number, count: number, term: number): Entry<unknown>[] =>
      Array.from({ length: count }, (_, k) => normal(from + k, term, `t${term}i${from + k}`));
    // Raft never truncates committed entries, nor anything the snapshot covers.
    const lowestMutable = Math.max(this.commit, this.snapshotIndex) + 1;
    switch (op.op) {
      case 'append': {
        const term = op.newTerm || this.term === 0 ? this.term + 1 : this.term;
        return {
          ...(term !== this.term ? { hardState: hardWith({ term, vote: null }) } : {}),
          entriesToPersist: entriesFrom(this.lastIndex + 1, op.count, term),
        };
      }
      case 'replace': {
        const from = Math.max(lowestMutable, this.lastIndex - op.back);
        const term = this.term + 1;
        return {
          hardState: hardWith({ term, vote: null }),
          ...(op.withTruncate ? { truncateFrom: from } : {}),
          entriesToPersist: entriesFrom(from, op.count, term),
        };
      }
      case 'truncate':
        return {
          truncateFrom: Math.max(lowestMutable, this.lastIndex - op.back),
          entriesToPersist: [],
        };
      case 'commit':
        return {
          hardState: hardWith({ commit: Math.min(this.lastIndex, this.commit + op.ahead) }),
          entriesToPersist: [],
        };
      case 'vote':
        return {
          hardState: hardWith({ term: this.term + (op.newTerm ? 1 : 0), vote: op.vote }),
          entriesToPersist: [],
        };
      case 'compact': {
        const index = this.commit - op.back;
        const term = this.log.get(index)?.term;
        if (index <= this.snapshotIndex || term === undefined) return null;
        return { snapshotToPersist: snapshotAt(index, term), entriesToPersist: [] };
      }
      case 'install': {
        const index = this.commit + op.ahead;
        const term = Math.max(this.term, 1);
        return {
          snapshotToPersist: snapshotAt(index, term),
          truncateFrom: index + 1,
          hardState: hardWith({ term, commit: index }),
          entriesToPersist: [],
        };
      }
      case 'reopen':
        return null;
    }
  }
}

test('random persist sequences load the same from memory, from a file, after reopening it, and from a plain model', (t) => {
  const root = tempDir(t);
  fc.assert(
    fc.property(fc.array(opArbitrary, { minLength: 1, maxLength: 25 }), (ops) => {
      const dir = mkdtempSync(join(root, 'run-'));
      const model = new Model();
      const memory = new MemoryRaftStorage<unknown>();
      let file = new FileRaftStorage<unknown>({ dir });
      try {
        for (const op of ops) {
          if (op.op === 'reopen') {
            file.close();
            file = new FileRaftStorage<unknown>({ dir });
          } else {
            const work = model.work(op);
            if (work === null) continue;
            model.apply(work);
            memory.persist(work);
            file.persist(work);
          }
          assert.deepEqual(memory.load(), model.load());
          assert.deepEqual(file.load(), model.load());
        }
        file.close();
        file = new FileRaftStorage<unknown>({ dir });
        assert.deepEqual(file.load(), model.load());
      } finally {
        file.close();
      }
    }),
    { numRuns: 60 },
  );
});
