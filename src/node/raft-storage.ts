/**
 * Raft's stable storage: where a node keeps its term, its vote, its log and its snapshot, so
 * that after a crash it restarts as the same voter it was (DESIGN.md section 5, "written to
 * disk before they are acted on"). The control plane drains each Ready by calling
 * `persist()`, and only when it returns does it send the Ready's messages: a vote or an
 * append acknowledgement is a promise that the state behind it survives a crash, and
 * `persist()` returning is what makes the promise true.
 *
 * Two implementations with one meaning. `MemoryRaftStorage` is for a node without a data dir
 * (it joins again under a new incarnation after a restart) and for the simulator.
 * `FileRaftStorage` writes to a data dir. Both compute what a persist changes with the same
 * function (`planPersist`), so they agree on truncation, on a snapshot discarding the entries
 * at or below its index, and on entries replacing the tail from their first index; a property
 * test checks them against each other and against a plain model.
 *
 * The data dir:
 *
 *   LOCK       who holds the dir (pid, pid namespace, boot, start time, token), so two
 *              processes never share it; its mtime is the holder's heartbeat
 *              (raft-storage-file.ts)
 *   meta       { clusterId, nodeId, incarnation }: who this node is, written once
 *   hardstate  { term, vote, commit }: one record, replaced whole
 *   snapshot   { meta: { index, term, membership }, data }: one record, replaced whole
 *   log        the entries after the snapshot, as records appended one after another
 *   *.tmp      a replacement being written; a leftover one is removed on open
 *
 * Every file is made of records `[u32 length][u32 crc32 of body][MessagePack body]`. A whole
 * file is replaced by writing `name.tmp`, fsync, rename over `name`, fsync of the dir: a
 * crash leaves the old file or the new one, never a mix.
 *
 * One persist, in the order of the Ready contract (src/raft/types.ts), each step durable
 * before the next begins:
 *
 * 0. If the term or the vote changed and the log or snapshot is also written: `hardstate`
 *    with the new term and vote and the commit already on disk. The contract lets the whole
 *    hard state go last, but writing the term first keeps "the stored term is at least the
 *    term of every stored entry" true at every instant, so a restart never finds entries of
 *    a term it has not entered. The old commit is safe: Raft never truncates at or below it.
 * 1. `snapshot`, replaced whole.
 * 2. The log. If the snapshot made entries at the front redundant: a new log file with the
 *    kept entries (their bytes copied as they are) and the new ones, replaced whole. Else, if
 *    the tail goes (truncateFrom, or new entries starting at a stored index): ftruncate to
 *    the first dropped record and fsync, so the dropped records cannot come back when the
 *    new ones are written over the same bytes and only part of them reach the disk. Then the
 *    new records are written at the end in one write and fsynced.
 * 3. `hardstate`, replaced whole, if it differs from what is on disk. Last, because its
 *    commit may name entries written in step 2.
 *
 * A crash at any point, and what the restart finds:
 * - Before step 0 ends: the previous state. Nothing of this Ready was sent, so nothing
 *   promised is missing. The same holds for every crash below: the messages wait for all.
 * - After 0: the new term and vote, the old log. A vote on disk that was never sent binds
 *   no one else and keeps this node from voting twice.
 * - After 1, before 2 ends: the new snapshot with the old log. On open, entries at or below
 *   the snapshot's index are dropped (the compaction completes). If the log holds an entry
 *   at the snapshot's index with another term, the snapshot came from the leader and
 *   replaces the whole log (`truncateFrom` = index + 1 was pending): the entries after it
 *   belong to a history the cluster abandoned, and they go too (Log Matching: the same index
 *   and term mean the same prefix, and a different term means a different suffix).
 * - During 2's append: a torn last batch. Its records were never acknowledged (the fsync did
 *   not return); the scan drops the damaged tail and truncates the file to the last good
 *   record. A damaged record with good ones after it is not a torn append: the open fails
 *   with STORAGE_CORRUPT naming the file and offset, and never drops an acknowledged entry.
 * - After 2, before 3: the new log with the old commit, which is at most the new last index
 *   (truncations never reach the commit; an installed snapshot is beyond it).
 *
 * On open: take the lock, remove leftover *.tmp, read meta, hardstate and snapshot (one
 * record each, any damage is corruption), scan the log, check the entries are contiguous
 * with non-decreasing terms, reconcile with the snapshot as above, check the commit is held
 * and the term covers the last entry; only then repair (truncate a torn tail, rewrite a log
 * whose front the snapshot covers), so an open that throws leaves the files as it found
 * them for the operator.
 *
 * The I/O is synchronous. The control-plane log is small (metadata, compacted every
 * thousand entries), a persist is a few fsyncs, and a synchronous persist makes
 * "persist before send" true by construction: no callback can send a message in between.
 * The cost is that the event loop waits for the disk during an fsync; the data plane does
 * not use this log.
 *
 * If a write fails (EIO, ENOSPC), the storage refuses all further use: after a failed fsync
 * the kernel may have dropped the dirty pages, so neither the disk nor this object's mirror
 * can be trusted. The process must exit and recover from the files on the next start.
 */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createPackr } from '../core/msgpack.js';
import { AssertionError, assert } from '../core/assert.js';
import type {
  Entry,
  HardState,
  Membership,
  PersistedState,
  Ready,
  Snapshot,
} from '../raft/index.js';
import {
  DirLock,
  encodeRecord,
  fsyncDir,
  isErrno,
  RaftStorageError,
  readRecordFile,
  removeLeftover,
  replaceFileDurably,
  scanRecords,
  writeFully,
} from './raft-storage-file.js';
import { isPlainMap } from '../core/shape.js';

export { RaftStorageError, type RaftStorageErrorCode } from './raft-storage-file.js';

/** Who this node is, kept so that a restarted node resumes its identity. */
export interface NodeMeta {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly incarnation: string;
}

/** The part of a Ready that storage handles. */
export type PersistWork<T> = Pick<
  Ready<T>,
  'hardState' | 'snapshotToPersist' | 'truncateFrom' | 'entriesToPersist'
>;

export interface RaftStorage<T> {
  /** Everything persisted so far (for RaftNode's `restore`), or null when nothing was ever persisted. */
  load(): PersistedState<T> | null;
  /** Persists the storage part of one Ready, in the Ready contract's order, durably (fsync) before returning. */
  persist(ready: PersistWork<T>): void;
  /** The identity written by writeMeta, or null before the first one. */
  readMeta(): NodeMeta | null;
  /** Records this node's identity durably. */
  writeMeta(meta: NodeMeta): void;
  close(): void;
}

// ---------------------------------------------------------------------------------------
// What a persist changes: shared by both implementations

interface StoredLog<T> {
  readonly snapshot: Snapshot | null;
  /** Contiguous, ascending, all after the snapshot's index. */
  readonly entries: readonly Entry<T>[];
}

/** The stored entries kept are `entries[dropFront, keepEnd)`, followed by `append`. */
interface PersistPlan<T> {
  readonly snapshot: Snapshot | null;
  readonly dropFront: number;
  readonly keepEnd: number;
  readonly append: readonly Entry<T>[];
}

/**
 * The Ready contract's step 1 as arithmetic: the snapshot drops the entries at or below its
 * index, `truncateFrom` drops those at or after it, new entries replace the stored ones from
 * their first index on. The result must stay contiguous; a gap is a bug in the caller.
 */
function planPersist<T>(stored: StoredLog<T>, work: PersistWork<T>): PersistPlan<T> {
  const storedIndex = stored.snapshot?.meta.index ?? 0;
  const incoming = work.snapshotToPersist;
  assert(
    incoming === undefined || incoming.meta.index >= storedIndex,
    () => `snapshot at ${incoming?.meta.index} is older than the stored one at ${storedIndex}`,
  );
  const snapshot = incoming ?? stored.snapshot;
  const snapshotIndex = snapshot?.meta.index ?? 0;
  const entries = stored.entries;
  const first = entries[0]?.index ?? 0;
  /** How many stored entries have an index below `index`. */
  const countBelow = (index: number): number =>
    Math.min(entries.length, Math.max(0, index - first));

  const dropFront = countBelow(snapshotIndex + 1);
  let keepEnd = entries.length;
  if (work.truncateFrom !== undefined) keepEnd = Math.min(keepEnd, countBelow(work.truncateFrom));
  const append = work.entriesToPersist.filter((e) => e.index > snapshotIndex);
  const head = append[0];
  if (head !== undefined) keepEnd = Math.min(keepEnd, countBelow(head.index));
  keepEnd = Math.max(keepEnd, dropFront);

  const lastKept = keepEnd > dropFront ? entries[keepEnd - 1] : undefined;
  let next = lastKept !== undefined ? lastKept.index + 1 : snapshotIndex + 1;
  for (const e of append) {
    assert(
      e.index === next,
      () => `persisting entry ${e.index} would leave a gap: the stored log continues at ${next}`,
    );
    next++;
  }
  return { snapshot, dropFront, keepEnd, append };
}

function applyPlan<T>(entries: readonly Entry<T>[], plan: PersistPlan<T>): readonly Entry<T>[] {
  // Most Readies (heartbeats and their answers, many times a tick) change no entry: copying
  // up to a snapshot interval of entries for each was a steady cost of an idle cluster.
  if (plan.dropFront === 0 && plan.keepEnd === entries.length) {
    return plan.append.length === 0 ? entries : entries.concat(plan.append);
  }
  return entries.slice(plan.dropFront, plan.keepEnd).concat(plan.append);
}

const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

function persistedState<T>(
  hardState: HardState | null,
  snapshot: Snapshot | null,
  entries: readonly Entry<T>[],
): PersistedState<T> | null {
  if (hardState === null && snapshot === null && entries.length === 0) return null;
  return { hardState: hardState ?? emptyHardState, snapshot, entries: entries.slice() };
}

function sameHardState(a: HardState | null, b: HardState): boolean {
  return a !== null && a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

// ---------------------------------------------------------------------------------------
// In memory

/**
 * Storage that lives as long as the object. `close()` keeps the state, as a disk would: the
 * simulator "restarts" a node by building a new RaftNode from the same storage's `load()`.
 */
export class MemoryRaftStorage<T> implements RaftStorage<T> {
  private hardState: HardState | null = null;
  private snapshot: Snapshot | null = null;
  private entries: readonly Entry<T>[] = [];
  private meta: NodeMeta | null = null;

  load(): PersistedState<T> | null {
    return persistedState(this.hardState, this.snapshot, this.entries);
  }

  persist(ready: PersistWork<T>): void {
    const plan = planPersist({ snapshot: this.snapshot, entries: this.entries }, ready);
    this.snapshot = plan.snapshot;
    this.entries = applyPlan(this.entries, plan);
    if (ready.hardState !== undefined) this.hardState = ready.hardState;
  }

  readMeta(): NodeMeta | null {
    return this.meta;
  }

  writeMeta(meta: NodeMeta): void {
    this.meta = meta;
  }

  close(): void {}
}

// ---------------------------------------------------------------------------------------
// Encoding

// Like the wire codec: no records or structures, so every record stands alone and a file
// written by one version reads in another. copyBuffers: a decoded Uint8Array owns its bytes
// instead of pinning the whole file read into memory.
const packr = createPackr({ copyBuffers: true });

/** Encodes and frames one value; the record is a new buffer (pack's result is transient). */
function recordOf(value: unknown): Buffer {
  return encodeRecord(packr.pack(value));
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function asHardState(value: unknown): HardState | null {
  if (!isPlainMap(value) || !isCount(value.term) || !isCount(value.commit)) return null;
  if (value.vote !== null && typeof value.vote !== 'string') return null;
  return { term: value.term, vote: value.vote, commit: value.commit };
}

function isMembership(value: unknown): value is Membership {
  return isPlainMap(value) && isStrings(value.voters) && isStrings(value.learners);
}

function asSnapshot(value: unknown): Snapshot | null {
  if (!isPlainMap(value) || !(value.data instanceof Uint8Array) || !isPlainMap(value.meta)) {
    return null;
  }
  const meta = value.meta;
  if (!isCount(meta.index) || !isCount(meta.term) || !isMembership(meta.membership)) return null;
  return {
    meta: { index: meta.index, term: meta.term, membership: meta.membership },
    data: value.data,
  };
}

function asMeta(value: unknown): NodeMeta | null {
  if (!isPlainMap(value)) return null;
  const { clusterId, nodeId, incarnation } = value;
  if (typeof clusterId !== 'string' || typeof nodeId !== 'string') return null;
  if (typeof incarnation !== 'string') return null;
  return { clusterId, nodeId, incarnation };
}

/** The decoded entry itself (payloads are the application's), once its frame is checked. */
function asEntry<T>(value: unknown): Entry<T> | null {
  if (!isPlainMap(value) || !isCount(value.index) || value.index < 1 || !isCount(value.term)) {
    return null;
  }
  switch (value.kind) {
    case 'normal':
      return 'data' in value ? (value as unknown as Entry<T>) : null;
    case 'config':
      return isPlainMap(value.change) && isMembership(value.membership)
        ? (value as unknown as Entry<T>)
        : null;
    case 'noop':
      return value as unknown as Entry<T>;
    default:
      return null;
  }
}

function corrupt(file: string, offset: number | null, problem: string): RaftStorageError {
  return new RaftStorageError(
    'STORAGE_CORRUPT',
    `${file} is corrupt${offset === null ? '' : ` at offset ${offset}`}: ${problem}. Remove ` +
      'the data dir and let the node rejoin under a new identity (an older copy of it could ' +
      'make the node vote twice in a term, or forget entries it acknowledged).',
    file,
    offset,
  );
}

/** Decodes a checksummed body; a body that passed its CRC yet does not decode is corruption. */
function decodeBody<V>(
  body: Uint8Array,
  as: (value: unknown) => V | null,
  file: string,
  offset: number,
  what: string,
): V {
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch (error) {
    throw new RaftStorageError(
      'STORAGE_CORRUPT',
      `${file} is corrupt at offset ${offset}: the ${what} does not decode (${String(error)})`,
      file,
      offset,
      { cause: error },
    );
  }
  const typed = as(value);
  if (typed === null) throw corrupt(file, offset, `the record is not a valid ${what}`);
  return typed;
}

function readValueFile<V>(path: string, as: (value: unknown) => V | null, what: string): V | null {
  const body = readRecordFile(path);
  return body === null ? null : decodeBody(body, as, path, 0, what);
}

// ---------------------------------------------------------------------------------------
// In a data dir

export interface FileRaftStorageOptions {
  /** The data dir; created if missing. One node per dir, enforced by `dir/LOCK`. */
  readonly dir: string;
  /**
   * Told once if another process takes the dir while this storage holds it (its lock was
   * removed or replaced). The storage refuses all further use from then on; the node must stop.
   */
  readonly onLockLost?: (error: RaftStorageError) => void;
}

/** What opening a data dir found, after checks and repair. */
interface Recovered<T> {
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly meta: NodeMeta | null;
  readonly entries: Entry<T>[];
  readonly offsets: number[];
  readonly logBytes: number;
}

const fileNames = ['hardstate', 'snapshot', 'meta', 'log'] as const;

/** Creates `dir` and makes each new level's name durable in its parent. */
function ensureDir(dir: string): void {
  const created = mkdirSync(dir, { recursive: true });
  if (created === undefined) return;
  const top = resolve(created);
  for (let level = resolve(dir); ; level = dirname(level)) {
    fsyncDir(dirname(level));
    if (level === top || dirname(level) === level) break;
  }
}

/** The log's bytes, or null when there is no log file yet. */
function readLog(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
}

/** Reads the whole data dir, checks it, and repairs what a crash legitimately leaves. */
function recover<T>(dir: string): Recovered<T> {
  for (const name of fileNames) removeLeftover(dir, name);
  const hardPath = join(dir, 'hardstate');
  const hardState = readValueFile(hardPath, asHardState, 'hard state');
  const snapshot = readValueFile(join(dir, 'snapshot'), asSnapshot, 'snapshot');
  const meta = readValueFile(join(dir, 'meta'), asMeta, 'node meta');

  const logPath = join(dir, 'log');
  const found = readLog(logPath);
  // The first open creates the log, durably, before anything can be persisted, and the hard
  // state is written before any entry or snapshot of its term: after any crash, either
  // both exist or neither does. Taking a missing one as never written would forget a vote
  // (and vote twice in that term) or entries this node acknowledged.
  if (found === null && hardState !== null) {
    throw corrupt(logPath, null, 'the log is missing, though the hard state is there');
  }
  const bytes = found ?? Buffer.alloc(0);
  const scan = scanRecords(bytes, logPath);
  const all: Entry<T>[] = [];
  const allOffsets: number[] = [];
  for (const record of scan.records) {
    const entry = decodeBody(record.body, asEntry<T>, logPath, record.offset, 'log entry');
    const prev = all[all.length - 1];
    if (prev !== undefined && entry.index !== prev.index + 1) {
      throw corrupt(logPath, record.offset, `entry ${entry.index} follows entry ${prev.index}`);
    }
    if (prev !== undefined && entry.term < prev.term) {
      throw corrupt(
        logPath,
        record.offset,
        `entry ${entry.index} has term ${entry.term}, below its predecessor's ${prev.term}`,
      );
    }
    all.push(entry);
    allOffsets.push(record.offset);
  }

  if (hardState === null && (snapshot !== null || all.length > 0)) {
    throw corrupt(hardPath, null, 'the hard state is missing, though the node holds entries');
  }

  // Reconcile with the snapshot (see "After 1, before 2 ends" above).
  const snapshotIndex = snapshot?.meta.index ?? 0;
  const first = all[0]?.index ?? snapshotIndex + 1;
  const from = Math.min(all.length, Math.max(0, snapshotIndex + 1 - first));
  let to = all.length;
  const atSnapshot = snapshot === null ? undefined : all[snapshotIndex - first];
  if (atSnapshot !== undefined && atSnapshot.term !== snapshot?.meta.term) to = from;
  const firstKept = all[from];
  if (from < to && firstKept !== undefined && firstKept.index !== snapshotIndex + 1) {
    throw corrupt(
      logPath,
      allOffsets[from] ?? 0,
      `the log starts at entry ${firstKept.index} but ` +
        (snapshot === null ? 'there is no snapshot' : `the snapshot ends at ${snapshotIndex}`) +
        `: entries ${snapshotIndex + 1} to ${firstKept.index - 1} are missing`,
    );
  }
  const entries = all.slice(from, to);
  const last = entries[entries.length - 1];
  const lastIndex = last?.index ?? snapshotIndex;
  const lastTerm = last?.term ?? snapshot?.meta.term ?? 0;
  if (hardState !== null && hardState.commit > lastIndex) {
    throw corrupt(
      hardPath,
      null,
      `the commit index ${hardState.commit} is beyond the last stored entry ${lastIndex}; ` +
        'committed entries are missing from the log',
    );
  }
  if (hardState !== null && hardState.term < lastTerm) {
    throw corrupt(
      hardPath,
      null,
      `the term ${hardState.term} is below the term ${lastTerm} of the last stored entry`,
    );
  }

  // Checks passed: now repair.
  const start = allOffsets[from] ?? scan.goodBytes;
  const end = allOffsets[to] ?? scan.goodBytes;
  if (found === null || from > 0 || to < all.length) {
    // The kept records' bytes, copied as they are: a rewrite never re-encodes an entry.
    replaceFileDurably(dir, 'log', bytes.subarray(start, end));
  } else if (scan.goodBytes < bytes.length) {
    const fd = openSync(logPath, 'r+');
    try {
      ftruncateSync(fd, scan.goodBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return {
    hardState,
    snapshot,
    meta,
    entries,
    offsets: allOffsets.slice(from, to).map((offset) => offset - start),
    logBytes: end - start,
  };
}

/**
 * Raft storage in a data dir; see the top of this file for the layout, the write order and
 * why every crash leaves a state to restart from. Opening reads, checks and repairs the dir
 * and throws RaftStorageError (STORAGE_LOCKED, STORAGE_CORRUPT) when it cannot be used.
 */
export class FileRaftStorage<T> implements RaftStorage<T> {
  private readonly dir: string;
  private readonly logPath: string;
  private readonly lock: DirLock;
  private logFd: number;
  private hardState: HardState | null;
  private snapshot: Snapshot | null;
  private entries: readonly Entry<T>[];
  /** offsets[i] is where entries[i]'s record starts in the log file. */
  private offsets: number[];
  private logBytes: number;
  private meta: NodeMeta | null;
  private closed = false;
  /** The error that made a write fail; the storage is unusable from then on. */
  private failure: unknown = null;
  /** Set when another process took the dir: writing on would make two nodes of one. */
  private lockLost: RaftStorageError | null = null;

  constructor(options: FileRaftStorageOptions) {
    if (typeof options.dir !== 'string' || options.dir === '') {
      throw new TypeError('dir must be a non-empty path to the data directory');
    }
    this.dir = options.dir;
    this.logPath = join(this.dir, 'log');
    ensureDir(this.dir);
    this.lock = DirLock.acquire(this.dir, {
      onLost: (error) => {
        this.lockLost = error;
        options.onLockLost?.(error);
      },
    });
    let recovered: Recovered<T>;
    try {
      recovered = recover<T>(this.dir);
      this.logFd = openSync(this.logPath, 'r+');
    } catch (error) {
      this.lock.release();
      throw error;
    }
    this.hardState = recovered.hardState;
    this.snapshot = recovered.snapshot;
    this.meta = recovered.meta;
    this.entries = recovered.entries;
    this.offsets = recovered.offsets;
    this.logBytes = recovered.logBytes;
  }

  load(): PersistedState<T> | null {
    this.checkUsable();
    return persistedState(this.hardState, this.snapshot, this.entries);
  }

  persist(ready: PersistWork<T>): void {
    this.checkUsable();
    const plan = planPersist({ snapshot: this.snapshot, entries: this.entries }, ready);
    try {
      this.write(ready, plan);
    } catch (error) {
      this.failure = error;
      throw error;
    }
  }

  readMeta(): NodeMeta | null {
    this.checkUsable();
    return this.meta;
  }

  writeMeta(meta: NodeMeta): void {
    this.checkUsable();
    replaceFileDurably(this.dir, 'meta', recordOf(meta));
    this.meta = { clusterId: meta.clusterId, nodeId: meta.nodeId, incarnation: meta.incarnation };
  }

  /** Releases the log file and the lock. The state on disk stays for the next open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.logFd >= 0) closeSync(this.logFd);
    this.logFd = -1;
    this.lock.release();
  }

  private checkUsable(): void {
    if (this.closed) throw new AssertionError(`the Raft storage in ${this.dir} is closed`);
    if (this.lockLost !== null) throw this.lockLost;
    if (this.failure !== null) {
      throw new Error(
        `the Raft storage in ${this.dir} failed to write (${String(this.failure)}); ` +
          'what reached the disk is unknown, so the process must restart and recover from it',
        { cause: this.failure },
      );
    }
  }

  private write(ready: PersistWork<T>, plan: PersistPlan<T>): void {
    const hard = ready.hardState;
    const onDisk = this.hardState ?? emptyHardState;
    const writesLog =
      plan.append.length > 0 || plan.dropFront > 0 || plan.keepEnd < this.entries.length;
    // Step 0: the term before any entry of that term (see the top of this file).
    if (
      hard !== undefined &&
      (hard.term !== onDisk.term || hard.vote !== onDisk.vote) &&
      (writesLog || ready.snapshotToPersist !== undefined)
    ) {
      this.writeHardState({ term: hard.term, vote: hard.vote, commit: onDisk.commit });
    }
    // Step 1.
    if (ready.snapshotToPersist !== undefined) {
      replaceFileDurably(this.dir, 'snapshot', recordOf(ready.snapshotToPersist));
      this.snapshot = plan.snapshot;
    }
    // Step 2.
    if (writesLog) this.writeLog(plan);
    // Step 3.
    if (hard !== undefined && !sameHardState(this.hardState, hard)) this.writeHardState(hard);
  }

  private writeHardState(hardState: HardState): void {
    replaceFileDurably(this.dir, 'hardstate', recordOf(hardState));
    this.hardState = hardState;
  }

  /** Where the record of entries[i] starts; the end of the log for i = entries.length. */
  private offsetOf(i: number): number {
    return this.offsets[i] ?? this.logBytes;
  }

  private writeLog(plan: PersistPlan<T>): void {
    const records = plan.append.map((entry) => recordOf(entry));
    const newOffsets: number[] = [];
    if (plan.dropFront > 0) {
      // Compaction: a new file with the kept records' bytes and the new ones, replaced whole.
      const start = this.offsetOf(plan.dropFront);
      const kept = Buffer.allocUnsafe(this.offsetOf(plan.keepEnd) - start);
      let done = 0;
      while (done < kept.length) {
        const read = readSync(this.logFd, kept, done, kept.length - done, start + done);
        if (read === 0) throw new Error(`${this.logPath} is shorter than the records it held`);
        done += read;
      }
      const offsets = this.offsets.slice(plan.dropFront, plan.keepEnd).map((o) => o - start);
      let position = kept.length;
      for (const record of records) {
        newOffsets.push(position);
        position += record.length;
      }
      closeSync(this.logFd);
      this.logFd = -1;
      replaceFileDurably(this.dir, 'log', Buffer.concat([kept, ...records]));
      this.logFd = openSync(this.logPath, 'r+');
      this.offsets = offsets.concat(newOffsets);
      this.logBytes = position;
    } else {
      if (plan.keepEnd < this.entries.length) {
        // Durable before the new records go over the same bytes (see step 2 above).
        this.logBytes = this.offsetOf(plan.keepEnd);
        ftruncateSync(this.logFd, this.logBytes);
        fsyncSync(this.logFd);
        this.offsets.length = plan.keepEnd;
      }
      if (records.length > 0) {
        let position = this.logBytes;
        for (const record of records) {
          newOffsets.push(position);
          position += record.length;
        }
        writeFully(this.logFd, Buffer.concat(records), this.logBytes);
        fsyncSync(this.logFd);
        this.offsets.push(...newOffsets);
        this.logBytes = position;
      }
    }
    this.entries = applyPlan(this.entries, plan);
  }
}
