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
 * The lock is a `LOCK` file created with O_EXCL ('wx') and holding the owner's pid. Node has
 * no flock, so staleness is judged by pid: a lock whose pid is not alive is taken over. The
 * same pid as this process, when this process does not hold the dir, is stale too: in a
 * container the node is often PID 1 on every start, and that must not lock it out after a
 * crash. Honest limits: two processes taking over the same stale lock at the same instant
 * could both succeed (the window is a read and an unlink); and a dead owner's pid reused by
 * an unrelated live process keeps the lock until the operator removes the file. The error
 * says so.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';

export type RaftStorageErrorCode =
  /** A file of the data dir is damaged in a way that may lose acknowledged state. */
  | 'STORAGE_CORRUPT'
  /** Another live process (or another storage in this one) holds the data dir. */
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user. It is alive all the same.
    return isErrno(error, 'EPERM');
  }
}

function lockedError(path: string, pid: number): RaftStorageError {
  const who = pid === process.pid ? `this process (pid ${pid})` : `process ${pid}`;
  return new RaftStorageError(
    'STORAGE_LOCKED',
    `the data dir ${dirname(path)} is in use by ${who}: two nodes must never share a data ` +
      `dir. Stop that process or give this node another dir. If no statehouse process has ` +
      `pid ${pid} (the pid was reused), remove ${path}.`,
    path,
  );
}

/** Exclusive use of a data dir by this process, until release(). */
export class DirLock {
  private released = false;

  private constructor(
    private readonly path: string,
    private readonly key: string,
  ) {}

  /** Takes `dir/LOCK`, taking over a stale one; throws STORAGE_LOCKED if it is held. */
  static acquire(dir: string): DirLock {
    const path = join(dir, 'LOCK');
    const key = realpathSync(dir);
    if (heldDirs.has(key)) throw lockedError(path, process.pid);
    // Two rounds: the second follows the removal of a stale lock. Losing it again means
    // another process took the lock in between, and it is that process's now.
    // The lock appears whole: the pid is written to a file of our own first, which is then
    // linked in as LOCK (failing if one exists). Creating LOCK and then writing the pid left
    // an empty lock, refused for good, after a crash between the two.
    const mine = join(dir, `LOCK.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fd = openSync(mine, 'wx');
    try {
      writeFully(fd, Buffer.from(`${process.pid}\n`), 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      for (let round = 0; round < 2; round++) {
        try {
          linkSync(mine, path);
        } catch (error) {
          // Our own file gone: the process holding the dir removed it with the leftovers.
          if (isErrno(error, 'ENOENT')) {
            const holder = readLockOwner(path);
            throw lockedError(path, typeof holder === 'number' ? holder : -1);
          }
          if (!isErrno(error, 'EEXIST')) throw error;
          const owner = readLockOwner(path);
          if (owner === 'gone') continue;
          if (owner === null) {
            throw new RaftStorageError(
              'STORAGE_LOCKED',
              `${path} exists but holds no pid. If no statehouse process uses ${dir}, ` +
                `remove ${path}.`,
              path,
            );
          }
          // Our own pid in a lock this process does not hold is a previous incarnation's.
          if (owner !== process.pid && isAlive(owner)) throw lockedError(path, owner);
          try {
            unlinkSync(path);
          } catch (unlinkError) {
            if (!isErrno(unlinkError, 'ENOENT')) throw unlinkError;
          }
          continue;
        }
        heldDirs.add(key);
        return new DirLock(path, key);
      }
    } finally {
      try {
        unlinkSync(mine);
      } catch {
        // Left behind, it is a *.tmp: the open that holds the dir next removes it.
      }
    }
    const owner = readLockOwner(path);
    throw lockedError(path, typeof owner === 'number' ? owner : -1);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    heldDirs.delete(this.key);
    // Remove it only if it is still ours: an operator may have removed and another taken it.
    if (readLockOwner(this.path) === process.pid) {
      try {
        unlinkSync(this.path);
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) throw error;
      }
    }
  }
}

/** The pid in a lock file; null when it holds none; 'gone' when the file vanished. */
function readLockOwner(path: string): number | null | 'gone' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return 'gone';
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}
