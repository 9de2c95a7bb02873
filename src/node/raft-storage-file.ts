/**
 * The on-disk primitives under FileRaftStorage (raft-storage.ts): checksummed records, the
 * scan that tells a torn append from corruption, the durable replace of a whole file, and
 * the data dir lock. Nothing here knows what Raft is.
 *
 * A record is `[u32 length][u32 crc32 of the body][body]`, both numbers little-endian. The
 * log is a run of records; `hardstate`, `snapshot` and `meta` are each exactly one record, so
 * a flipped bit anywhere in them is caught too.
 *
 * Torn tail or corruption. An append writes a batch of records at the end of the log and
 * fsyncs; until the fsync returns, nothing in the batch was acknowledged. A crash in between
 * leaves a prefix of the batch, possibly with holes the file system filled with zeros. So
 * when the scan meets a bad record (short, zero or oversized length, wrong CRC) it asks one
 * question: does any valid record start anywhere after it? No: the bad bytes are the remains
 * of the last, unacknowledged append, and they may go. Yes: good records after a bad one
 * mean the damage is in the middle of what was once acknowledged, and dropping it would
 * silently forget entries the cluster counts on, so the scan throws and the operator acts.
 * The question is asked byte by byte, because a damaged length no longer says where the
 * next record starts. Limits of the rule, both on the side of refusing: a file system that
 * persists a later page of the last batch but not an earlier one looks like corruption; and
 * an entry whose payload contains the bytes of a whole valid record could make a torn tail
 * look like corruption. Either way the node refuses to start; it never drops a good entry.
 *
 * The lock is a `LOCK` file that appears whole (written to a file of our own, fsynced, then
 * linked in as LOCK, which fails if one exists) and holds JSON: { pid, pidNamespace, bootId,
 * startTime, token }. Node has no flock, and a pid alone says nothing across pid namespaces:
 * two containers sharing a volume each run their node as PID 1, and a pid from another
 * namespace or host may be dead here, or belong to an unrelated process, while its owner runs.
 * So whether an existing lock is alive is judged in one of two ways:
 * - Same pid namespace (the link of /proc/self/ns/pid) and same boot of the same host
 *   (/proc/sys/kernel/random/boot_id): alive iff the pid exists and, when a start time was
 *   recorded, the process with that pid started then (field 22 of /proc/<pid>/stat). A dead
 *   owner's pid reused by an unrelated process thus frees the lock.
 * - Otherwise (another namespace or host, or /proc absent on either side): by heartbeat. The
 *   holder sets LOCK's mtime every second; the judge reads the mtime, waits a lease (3 s) and
 *   reads again, and the lock is alive iff the mtime or the token changed. It never compares
 *   an mtime with its own clock: hosts' clocks differ. Opening is synchronous, so the wait
 *   blocks; it only happens when a lock of another namespace is found.
 * The plain-pid format of earlier versions is still read, as same namespace, start time
 * unknown. A lock with this process's own pid in this namespace, which this process does not
 * hold, is an earlier incarnation's (a container's PID 1 on every start): stale.
 *
 * Taking over a stale lock. Two takers of one stale lock must not both win, so it is never
 * unlinked: a taker renames LOCK to a name of its own (`LOCK.stale.<token>`), reads that back,
 * and goes on only if it is the very lock it judged stale (same token; same text for the old
 * format). If it is not, another taker already replaced the stale lock with its own: the
 * taker links it back as LOCK and fails with STORAGE_LOCKED. Only then does it link its own
 * lock in, and that link fails if someone was quicker. What is left (a third process linking
 * its lock in while the second one's is briefly aside, a holder whose event loop stood still
 * for a lease and was judged dead) is caught by the holder: every heartbeat first checks that
 * LOCK still holds its token, and a holder that finds it gone or replaced reports the loss,
 * refuses further writes and its node stops (fail-stop, DATA_DIR_LOCKED). The window is one
 * heartbeat: during it both may write, which is why the lock is judged conservatively and a
 * lock whose state cannot be read is treated as alive.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import { isPlainMap } from '../core/shape.js';

export type RaftStorageErrorCode =
  /** A file of the data dir is damaged in a way that may lose acknowledged state. */
  | 'STORAGE_CORRUPT'
  /**
   * Another live process (or another storage in this one) holds the data dir; or, reported to
   * a holder, another process took the dir from it.
   */
  | 'STORAGE_LOCKED';

/**
 * An operating error of the data dir: the node cannot start on it until an operator looks.
 * `file` is the path involved; `offset` the byte offset of the damage when there is one.
 */
export class RaftStorageError extends Error {
  override readonly name = 'RaftStorageError';

  constructor(
    readonly code: RaftStorageErrorCode,
    message: string,
    readonly file: string,
    readonly offset: number | null = null,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

// ---------------------------------------------------------------------------------------
// CRC-32

/** The IEEE 802.3 polynomial, reflected: the CRC-32 of zlib, gzip and PNG. */
const crcPolynomial = 0xedb88320;

const crcTable = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? crcPolynomial ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Table-driven CRC-32 for Node versions before 20.15, which lack zlib.crc32. */
export function crc32Portable(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    c = (crcTable[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

// Looked up at run time: the typings say it exists, Node 20.0 to 20.14 say otherwise.
const zlibCrc32: unknown = (zlib as Record<string, unknown>)['crc32'];

/** CRC-32 of `bytes`: zlib's native one when this Node has it, the table otherwise. */
export const crc32: (bytes: Uint8Array) => number =
  typeof zlibCrc32 === 'function'
    ? (bytes) => (zlibCrc32 as (data: Uint8Array) => number)(bytes) >>> 0
    : crc32Portable;

// ---------------------------------------------------------------------------------------
// Records

export const recordHeaderBytes = 8;

/**
 * The largest record body. A control-plane entry is a few KiB at most (the partition table
 * lives in snapshots, not in entries), so 64 MiB is far beyond any real one; the limit exists
 * so that a damaged length field is recognized as damage instead of being believed.
 */
export const recordBytesMax = 64 * 1024 * 1024;

/** Frames `body` as one record: a new buffer the caller may keep. */
export function encodeRecord(body: Uint8Array): Buffer {
  if (body.length === 0 || body.length > recordBytesMax) {
    throw new RangeError(`a record body must be 1 to ${recordBytesMax} bytes, got ${body.length}`);
  }
  const record = Buffer.allocUnsafe(recordHeaderBytes + body.length);
  record.writeUInt32LE(body.length, 0);
  record.writeUInt32LE(crc32(body), 4);
  record.set(body, recordHeaderBytes);
  return record;
}

/** A plain Uint8Array view (not a Buffer), so that msgpackr decodes binaries as Uint8Array. */
function plainView(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
}

/**
 * The end offset of a valid record starting at `offset`, or null. Valid means: the header
 * fits, the length is 1 to recordBytesMax (zero is what a zero-filled hole reads as), the body
 * fits in the file, and its CRC matches.
 */
function validRecordEnd(bytes: Uint8Array, offset: number): number | null {
  if (offset + recordHeaderBytes > bytes.length) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(offset, true);
  if (length === 0 || length > recordBytesMax) return null;
  const end = offset + recordHeaderBytes + length;
  if (end > bytes.length) return null;
  const crc = view.getUint32(offset + 4, true);
  return crc32(plainView(bytes, offset + recordHeaderBytes, end)) === crc ? end : null;
}

export interface ScannedRecord {
  /** Where the record starts in the file. */
  readonly offset: number;
  /** A view of its body inside the scanned bytes. */
  readonly body: Uint8Array;
}

export interface ScanResult {
  readonly records: readonly ScannedRecord[];
  /** Bytes from the start that hold whole, valid records: the file's length after repair. */
  readonly goodBytes: number;
}

/**
 * Reads a run of records. A bad tail (the remains of an unacknowledged append) ends the run
 * and is left out of `goodBytes`; a bad record with a valid one anywhere after it throws
 * STORAGE_CORRUPT naming `file` and the bad record's offset.
 */
export function scanRecords(bytes: Uint8Array, file: string): ScanResult {
  const records: ScannedRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const end = validRecordEnd(bytes, offset);
    if (end === null) break;
    records.push({ offset, body: plainView(bytes, offset + recordHeaderBytes, end) });
    offset = end;
  }
  if (offset < bytes.length) {
    for (let later = offset + 1; later + recordHeaderBytes < bytes.length; later++) {
      if (validRecordEnd(bytes, later) !== null) {
        throw new RaftStorageError(
          'STORAGE_CORRUPT',
          `${file} is corrupt: the record at offset ${offset} is damaged and a valid record ` +
            `follows at offset ${later}. This is not a torn append (those only happen at the ` +
            'end), so entries the cluster relies on may be lost. Remove the data dir and let ' +
            "the node rejoin under a new identity; don't edit it, and don't restore an older copy.",
          file,
          offset,
        );
      }
    }
  }
  return { records, goodBytes: offset };
}

/**
 * Reads a file that holds exactly one record (hardstate, snapshot, meta); null when the file
 * does not exist. Such files only ever appear by rename after an fsync, so they are never
 * torn: any damage is corruption.
 */
export function readRecordFile(path: string): Uint8Array | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
  const end = validRecordEnd(bytes, 0);
  if (end === null || end !== bytes.length) {
    throw new RaftStorageError(
      'STORAGE_CORRUPT',
      `${path} is corrupt: it should hold one record with a valid CRC-32 and nothing else ` +
        `(${bytes.length} bytes found). Remove the data dir and let the node rejoin under a ` +
        'new identity (an older copy of it could make the node vote twice in a term).',
      path,
      0,
    );
  }
  return plainView(bytes, recordHeaderBytes, end);
}

// ---------------------------------------------------------------------------------------
// Durable writes

export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/** writeSync may write less than asked; loop until all of `bytes` is at `position`. */
export function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  }
}

/**
 * Makes a rename or a new file in `dir` durable: a file's fsync covers its data, not the
 * directory entry that names it. Windows cannot open a directory for fsync, and NTFS
 * journals renames, so there it is skipped.
 */
export function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `dir/name` by `bytes` so that a crash at any point leaves either the old file or
 * the new one, whole: write a temporary file, fsync it, rename it over the old one (atomic on
 * POSIX), fsync the directory so the rename itself survives.
 */
export function replaceFileDurably(dir: string, name: string, bytes: Uint8Array): void {
  const temporary = join(dir, `${name}.tmp`);
  const fd = openSync(temporary, 'w');
  try {
    writeFully(fd, bytes, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, join(dir, name));
  fsyncDir(dir);
}

/** Removes the temporary file a crash before its rename left behind: the old file is whole. */
export function removeLeftover(dir: string, name: string): void {
  try {
    unlinkSync(join(dir, `${name}.tmp`));
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}

// ---------------------------------------------------------------------------------------
// The data dir lock

/** Data dirs (real paths) this process holds, to refuse a second storage on the same one. */
const heldDirs = new Set<string>();

/** How long a lock of another namespace must stand still to count as stale. */
export const lockLeaseMsDefault = 3_000;
/** How often the holder sets LOCK's mtime; a third of the lease, so a late beat is no death. */
export const lockHeartbeatMsDefault = 1_000;

/**
 * What the lock reads of the system. Injectable so that tests can play a foreign namespace, a
 * reused pid, a heartbeat or an interleaving of two takers without containers or real waits.
 */
export interface LockProbes {
  /** This process's pid namespace (`pid:[4026531836]`); null where /proc is absent. */
  readonly pidNamespace: () => string | null;
  /** This boot of this host; null where /proc is absent. */
  readonly bootId: () => string | null;
  /** When a process started (field 22 of /proc/<pid>/stat); null when unreadable. */
  readonly startTime: (pid: number | 'self') => string | null;
  /** Whether a process with this pid exists in this pid namespace. */
  readonly isAlive: (pid: number) => boolean;
  /** Blocks for `ms`: opening a storage is synchronous. */
  readonly sleep: (ms: number) => void;
}

export interface DirLockOptions {
  /** How long a lock judged by heartbeat is watched. Default lockLeaseMsDefault. */
  readonly leaseMs?: number;
  /** How often the holder beats. Default lockHeartbeatMsDefault. */
  readonly heartbeatMs?: number;
  /** Told once when the holder finds LOCK gone or replaced: it must stop using the dir. */
  readonly onLost?: (error: RaftStorageError) => void;
  /** Replaces some of the real probes. */
  readonly probes?: Partial<LockProbes>;
  /** Runs between judging a lock stale and moving it aside, where a second taker may act. */
  readonly beforeTakeover?: () => void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user. It is alive all the same.
    return isErrno(error, 'EPERM');
  }
}

function readProcFile(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Field 22 of a /proc/<pid>/stat line, the start time in clock ticks since boot. Field 2, the
 * command name in parentheses, may itself hold spaces and parentheses, so the fields are
 * counted from the last ')'.
 */
export function startTimeOfStat(stat: string): string | null {
  const end = stat.lastIndexOf(')');
  if (end < 0) return null;
  // The first field after the name is field 3.
  const value = stat
    .slice(end + 1)
    .trim()
    .split(/\s+/)[22 - 3];
  return value !== undefined && /^\d+$/.test(value) ? value : null;
}

const realProbes: LockProbes = {
  pidNamespace: () => {
    try {
      return readlinkSync('/proc/self/ns/pid');
    } catch {
      return null;
    }
  },
  bootId: () => readProcFile('/proc/sys/kernel/random/boot_id')?.trim() || null,
  startTime: (pid) => {
    const stat = readProcFile(`/proc/${pid}/stat`);
    return stat === null ? null : startTimeOfStat(stat);
  },
  isAlive,
  sleep: (ms) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  },
};

/** Who a LOCK says holds the dir. */
interface LockOwner {
  readonly pid: number;
  readonly pidNamespace: string | null;
  readonly bootId: string | null;
  readonly startTime: string | null;
  /** Unique per acquisition; null in the plain-pid format of earlier versions. */
  readonly token: string | null;
}

/** One read of LOCK: its text, what it says (null: not a lock), and its mtime. */
interface LockReading {
  readonly text: string;
  readonly owner: LockOwner | null;
  readonly mtimeNs: bigint;
}

function parseLock(text: string): LockOwner | null {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const pid = Number(trimmed);
    return Number.isSafeInteger(pid) && pid > 0
      ? { pid, pidNamespace: null, bootId: null, startTime: null, token: null }
      : null;
  }
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (!isPlainMap(value)) return null;
  const { pid, pidNamespace, bootId, startTime, token } = value;
  const stringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
  if (
    typeof pid !== 'number' ||
    !Number.isSafeInteger(pid) ||
    pid <= 0 ||
    !stringOrNull(pidNamespace) ||
    !stringOrNull(bootId) ||
    !stringOrNull(startTime) ||
    typeof token !== 'string' ||
    token === ''
  ) {
    return null;
  }
  return { pid, pidNamespace, bootId, startTime, token };
}

/** LOCK as it is now; 'gone' when there is none. */
function readLock(path: string): LockReading | 'gone' {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return 'gone';
    throw error;
  }
  try {
    // The mtime of the file whose text is read, through one descriptor. Opening also makes an
    // NFS client revalidate the attributes it caches.
    const mtimeNs = fstatSync(fd, { bigint: true }).mtimeNs;
    const text = readFileSync(fd, 'utf8');
    return { text, owner: parseLock(text), mtimeNs };
  } finally {
    closeSync(fd);
  }
}

/** Whether two reads saw the same acquisition (not: the same heartbeat). */
function sameLock(a: LockReading, b: LockReading): boolean {
  const token = a.owner?.token ?? null;
  return token !== null ? b.owner?.token === token : a.text === b.text;
}

function describeOwner(owner: LockOwner | null): string {
  if (owner === null) return 'an unknown process';
  return owner.pid === process.pid ? `this process (pid ${owner.pid})` : `process ${owner.pid}`;
}

function lockedError(path: string, owner: LockOwner | null, why = ''): RaftStorageError {
  // Only a pid without a start time can have been reused unnoticed.
  const reused =
    owner !== null && owner.startTime === null && owner.pid !== process.pid
      ? ` If no statehouse process has pid ${owner.pid} (the pid was reused), remove ${path}.`
      : '';
  return new RaftStorageError(
    'STORAGE_LOCKED',
    `the data dir ${dirname(path)} is in use by ${describeOwner(owner)}${why}: two nodes ` +
      `must never share a data dir. Stop that process or give this node another dir.${reused}`,
    path,
  );
}

type Verdict =
  | { readonly alive: boolean; readonly reading: LockReading; readonly byHeartbeat: boolean }
  | 'gone';

/** Whether the lock read as `found` (which holds an owner) still has a live holder. */
function judge(
  path: string,
  found: LockReading & { readonly owner: LockOwner },
  self: LockOwner,
  probes: LockProbes,
  leaseMs: number,
): Verdict {
  const owner = found.owner;
  const sameHost =
    owner.token === null ||
    (self.pidNamespace !== null &&
      self.bootId !== null &&
      owner.pidNamespace === self.pidNamespace &&
      owner.bootId === self.bootId);
  if (sameHost) {
    // This process does not hold the dir (heldDirs said so): our pid is an earlier incarnation's.
    if (owner.pid === process.pid) return { alive: false, reading: found, byHeartbeat: false };
    if (!probes.isAlive(owner.pid)) return { alive: false, reading: found, byHeartbeat: false };
    if (owner.startTime === null) return { alive: true, reading: found, byHeartbeat: false };
    // Unreadable (hidepid, or it just exited): cannot tell, so it counts as alive.
    const startTime = probes.startTime(owner.pid);
    return {
      alive: startTime === null || startTime === owner.startTime,
      reading: found,
      byHeartbeat: false,
    };
  }
  probes.sleep(leaseMs);
  const later = readLock(path);
  if (later === 'gone') return 'gone';
  return {
    alive: later.mtimeNs !== found.mtimeNs || !sameLock(later, found),
    reading: later,
    byHeartbeat: true,
  };
}

/**
 * Moves the stale lock `judged` out of the way without ever removing a fresh one: rename LOCK
 * to a name of ours, then check it is the lock judged stale. Throws STORAGE_LOCKED when it is
 * another taker's, after putting that one back.
 */
function takeAside(dir: string, path: string, judged: LockReading, token: string): void {
  const aside = join(dir, `LOCK.stale.${token}`);
  try {
    renameSync(path, aside);
  } catch (error) {
    // Another taker moved it first; the link that follows finds out who wins.
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  try {
    const moved = readLock(aside);
    if (moved !== 'gone' && !sameLock(moved, judged)) {
      try {
        linkSync(aside, path);
      } catch (error) {
        // A third process linked its lock in meanwhile. The one we moved loses its lock; its
        // next heartbeat sees that and stops it.
        if (!isErrno(error, 'EEXIST')) throw error;
      }
      throw lockedError(path, moved.owner, ', which took over the stale lock at the same time');
    }
  } finally {
    try {
      unlinkSync(aside);
    } catch {
      // Left behind, it is inert: nothing reads LOCK.stale.* as a lock.
    }
  }
}

/**
 * Exclusive use of a data dir by this process, until release(). While held, a heartbeat sets
 * LOCK's mtime every second (so that a process of another pid namespace can tell it is alive)
 * and checks that LOCK is still ours.
 */
export class DirLock {
  private released = false;
  private lost = false;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly path: string,
    private readonly key: string,
    private readonly token: string,
    heartbeatMs: number,
    private readonly onLost: (error: RaftStorageError) => void,
  ) {
    this.timer = setInterval(() => this.beat(), heartbeatMs);
    this.timer.unref();
  }

  /** Takes `dir/LOCK`, taking over a stale one; throws STORAGE_LOCKED if it is held. */
  static acquire(dir: string, options: DirLockOptions = {}): DirLock {
    const path = join(dir, 'LOCK');
    const key = realpathSync(dir);
    if (heldDirs.has(key)) {
      throw lockedError(path, {
        pid: process.pid,
        pidNamespace: null,
        bootId: null,
        startTime: null,
        token: null,
      });
    }
    const probes: LockProbes = { ...realProbes, ...options.probes };
    const leaseMs = options.leaseMs ?? lockLeaseMsDefault;
    const self: LockOwner = {
      pid: process.pid,
      pidNamespace: probes.pidNamespace(),
      bootId: probes.bootId(),
      startTime: probes.startTime('self'),
      token: randomBytes(16).toString('hex'),
    };
    const token = self.token as string;
    // The lock appears whole: written to a file of our own first, which is then linked in
    // as LOCK (failing if one exists). Creating LOCK and then writing into it left an empty
    // lock, refused for good, after a crash between the two.
    const mine = join(dir, `LOCK.${token}.tmp`);
    const fd = openSync(mine, 'wx');
    try {
      writeFully(fd, Buffer.from(`${JSON.stringify(self)}\n`), 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      // Two rounds: the second follows the takeover of a stale lock. Losing it again means
      // another process took the lock in between, and it is that process's now.
      for (let round = 0; round < 2; round++) {
        try {
          linkSync(mine, path);
        } catch (error) {
          // Our own file gone: someone cleaned the dir while we were taking it.
          if (isErrno(error, 'ENOENT')) {
            const holder = readLock(path);
            throw lockedError(path, holder === 'gone' ? null : holder.owner);
          }
          if (!isErrno(error, 'EEXIST')) throw error;
          const found = readLock(path);
          if (found === 'gone') continue;
          const owner = found.owner;
          if (owner === null) {
            throw new RaftStorageError(
              'STORAGE_LOCKED',
              `${path} exists but holds no owner. If no statehouse process uses ${dir}, ` +
                `remove ${path}.`,
              path,
            );
          }
          const verdict = judge(path, { ...found, owner }, self, probes, leaseMs);
          if (verdict === 'gone') continue;
          if (verdict.alive) {
            throw lockedError(
              path,
              verdict.reading.owner,
              verdict.byHeartbeat
                ? ` of another pid namespace or host (its heartbeat went on within ${leaseMs} ms)`
                : '',
            );
          }
          options.beforeTakeover?.();
          takeAside(dir, path, verdict.reading, token);
          continue;
        }
        heldDirs.add(key);
        return new DirLock(
          path,
          key,
          token,
          options.heartbeatMs ?? lockHeartbeatMsDefault,
          options.onLost ?? (() => undefined),
        );
      }
    } finally {
      try {
        unlinkSync(mine);
      } catch {
        // Left behind, it is inert: nothing reads LOCK.*.tmp as a lock.
      }
    }
    const holder = readLock(path);
    throw lockedError(
      path,
      holder === 'gone' ? null : holder.owner,
      ', which took the lock while this one was taking over a stale one',
    );
  }

  /**
   * One heartbeat: check that LOCK is still ours, then set its mtime. The value set is this
   * host's clock, but a judge only compares it with the value it read a lease earlier.
   */
  private beat(): void {
    if (this.released || this.lost) return;
    let reading: LockReading | 'gone';
    try {
      reading = readLock(this.path);
    } catch (error) {
      this.lose('could not be read', error);
      return;
    }
    if (reading === 'gone') {
      this.lose('was removed');
      return;
    }
    if (reading.owner?.token !== this.token) {
      this.lose(`now names ${describeOwner(reading.owner)} as its holder`);
      return;
    }
    try {
      const now = new Date();
      utimesSync(this.path, now, now);
    } catch (error) {
      // Without a heartbeat a process of another namespace takes the lock after a lease.
      this.lose('could not be refreshed', error);
    }
  }

  private lose(what: string, cause?: unknown): void {
    this.lost = true;
    clearInterval(this.timer);
    this.onLost(
      new RaftStorageError(
        'STORAGE_LOCKED',
        `this process no longer holds the data dir ${dirname(this.path)}: its lock ` +
          `${this.path} ${what}. Another process may be using the dir, and two nodes must ` +
          'never share one, so this node stops.',
        this.path,
        null,
        cause === undefined ? {} : { cause },
      ),
    );
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    heldDirs.delete(this.key);
    // Remove it only if it is still ours: an operator may have removed and another taken it.
    const reading = readLock(this.path);
    if (reading !== 'gone' && reading.owner?.token === this.token) {
      try {
        unlinkSync(this.path);
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) throw error;
      }
    }
  }
}
