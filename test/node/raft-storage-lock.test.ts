import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRaftStorage, RaftStorageError } from '../../src/node/raft-storage.js';
import {
  DirLock,
  startTimeOfStat,
  type DirLockOptions,
  type LockProbes,
} from '../../src/node/raft-storage-file.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-raft-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface LockFields {
  pid: number;
  pidNamespace: string | null;
  bootId: string | null;
  startTime: string | null;
  token: string;
}

function lockIn(dir: string): LockFields {
  return JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')) as LockFields;
}

function isLockedBy(pid: number) {
  return (error: unknown): boolean =>
    error instanceof RaftStorageError &&
    error.code === 'STORAGE_LOCKED' &&
    error.message.includes(`${pid}`);
}

test('a second storage on the same data dir fails while the first is open, naming the pid that holds it', (t) => {
  const dir = tempDir(t);
  const first = new FileRaftStorage<string>({ dir });
  t.after(() => first.close());
  assert.equal(lockIn(dir).pid, process.pid);
  assert.throws(() => new FileRaftStorage<string>({ dir }), isLockedBy(process.pid));
  // The refused open did not disturb the holder.
  first.persist({ hardState: { term: 1, vote: null, commit: 0 }, entriesToPersist: [] });
  assert.equal(first.load()?.hardState.term, 1);
});

test('after close the data dir opens again and the lock file is gone', (t) => {
  const dir = tempDir(t);
  const first = new FileRaftStorage<string>({ dir });
  first.persist({ hardState: { term: 3, vote: 'b', commit: 0 }, entriesToPersist: [] });
  first.close();
  assert.equal(existsSync(join(dir, 'LOCK')), false);
  const second = new FileRaftStorage<string>({ dir });
  t.after(() => second.close());
  assert.deepEqual(second.load()?.hardState, { term: 3, vote: 'b', commit: 0 });
});

test('a lock held by another live process is respected', (t) => {
  const dir = tempDir(t);
  // The test runner that started this file is alive for as long as this test runs.
  writeFileSync(join(dir, 'LOCK'), `${process.ppid}\n`);
  assert.throws(() => new FileRaftStorage<string>({ dir }), isLockedBy(process.ppid));
  assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), `${process.ppid}`);
});

test('a lock left by a process that is gone is taken over', (t) => {
  const dir = tempDir(t);
  const child = spawnSync(process.execPath, ['-e', '']);
  assert.equal(typeof child.pid, 'number');
  writeFileSync(join(dir, 'LOCK'), `${child.pid}\n`);
  const storage = new FileRaftStorage<string>({ dir });
  t.after(() => storage.close());
  assert.equal(lockIn(dir).pid, process.pid);
});

test("a lock with this process's pid that this process does not hold is an earlier incarnation's and is taken over", (t) => {
  // In a container the node is PID 1 on every start: its own stale lock must not lock it out.
  const dir = tempDir(t);
  writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`);
  const storage = new FileRaftStorage<string>({ dir });
  t.after(() => storage.close());
  assert.throws(() => new FileRaftStorage<string>({ dir }), isLockedBy(process.pid));
});

// Found by review: the lock was created empty and the pid written after, so a kill -9
// between the two left a lock refused for good.
test('a process killed while taking the lock leaves no lock behind: the next open succeeds', (t) => {
  const dir = tempDir(t);
  const killed = spawnSync(process.execPath, [
    '--import',
    'tsx',
    'test/helpers/lock-child.ts',
    dir,
  ]);
  assert.equal(killed.signal, 'SIGKILL', 'the child died inside the lock acquisition');
  const storage = new FileRaftStorage<string>({ dir });
  storage.close();
});

test('a lock file without a pid fails the open with advice to remove it', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'LOCK'), '');
  assert.throws(
    () => new FileRaftStorage<string>({ dir }),
    (error: unknown) =>
      error instanceof RaftStorageError &&
      error.code === 'STORAGE_LOCKED' &&
      error.message.includes(`remove ${join(dir, 'LOCK')}`),
  );
});

test('a data dir that does not exist yet is created', (t) => {
  const dir = join(tempDir(t), 'a', 'b');
  const storage = new FileRaftStorage<string>({ dir });
  t.after(() => storage.close());
  assert.equal(storage.load(), null);
  assert.equal(existsSync(join(dir, 'log')), true);
});

// ---------------------------------------------------------------------------------------
// Owners in other pid namespaces, reused pids, racing takers, the holder's heartbeat. The
// probes of /proc and the lease are injected: a test plays a namespace, a host or a reused
// pid without containers, and a lease without waiting one.

const ourNamespace = 'pid:[4026532101]';
const otherNamespace = 'pid:[4026532202]';
const ourBoot = '0f5d2a0c-7f6e-4b8e-9d61-3c1f1f6a1b01';
const otherBoot = 'a7c3e9d2-1b4f-4c55-8e0a-6d2b9f3e4c02';
const ourStartTime = '5000';
/** No process of this test has it; the probes decide whether it is alive. */
const somePid = 4_000_001;

/** Probes of a process in `ourNamespace` on `ourBoot`; `waited` collects the sleeps. */
function probesHere(waited: number[], overrides: Partial<LockProbes> = {}): Partial<LockProbes> {
  return {
    pidNamespace: () => ourNamespace,
    bootId: () => ourBoot,
    startTime: (pid) => (pid === 'self' ? ourStartTime : null),
    isAlive: () => false,
    sleep: (ms) => void waited.push(ms),
    ...overrides,
  };
}

/** A lock of another process: this namespace and boot, a live-looking pid, unless overridden. */
function anotherOwner(fields: Partial<LockFields> = {}): LockFields {
  return {
    pid: somePid,
    pidNamespace: ourNamespace,
    bootId: ourBoot,
    startTime: '77',
    token: 'e'.repeat(32),
    ...fields,
  };
}

function writeLock(dir: string, fields: LockFields): void {
  writeFileSync(join(dir, 'LOCK'), `${JSON.stringify(fields)}\n`);
}

/** Sets LOCK's mtime: what a holder's heartbeat does, with the holder's clock. */
function setMtime(dir: string, at: Date): void {
  utimesSync(join(dir, 'LOCK'), at, at);
}

function isLocked(error: unknown): boolean {
  return error instanceof RaftStorageError && error.code === 'STORAGE_LOCKED';
}

function acquired(t: TestContext, dir: string, options: DirLockOptions): DirLock {
  const lock = DirLock.acquire(dir, options);
  t.after(() => lock.release());
  return lock;
}

const lease = 25;

test('a lock names its holder: pid, pid namespace, boot, start time and a token of its own', (t) => {
  const dir = tempDir(t);
  acquired(t, dir, { probes: probesHere([]) });
  const lock = lockIn(dir);
  assert.deepEqual(
    { ...lock, token: typeof lock.token },
    {
      pid: process.pid,
      pidNamespace: ourNamespace,
      bootId: ourBoot,
      startTime: ourStartTime,
      token: 'string',
    },
  );
  assert.match(lock.token, /^[0-9a-f]{32}$/);
});

test('on Linux the real probes record the pid namespace, the boot id and the start time from /proc', (t) => {
  if (!existsSync('/proc/self/stat')) return t.skip('no /proc here');
  const dir = tempDir(t);
  acquired(t, dir, {});
  const lock = lockIn(dir);
  assert.equal(lock.pidNamespace, readlinkSync('/proc/self/ns/pid'));
  assert.equal(lock.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  assert.equal(lock.startTime, readFileSync('/proc/self/stat', 'utf8').split(' ')[21]);
});

test('the start time is field 22 of /proc/<pid>/stat, counted after the command name even when it holds spaces and parentheses', () => {
  const after = 'S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21';
  assert.equal(startTimeOfStat(`42 (node) ${after}`), '987654');
  assert.equal(startTimeOfStat(`42 (a (b) c) d) ${after}`), '987654');
  assert.equal(startTimeOfStat('42 (node) S 1 2'), null);
});

test('a lock from another pid namespace whose mtime keeps advancing is refused, though its pid is not alive here', (t) => {
  const dir = tempDir(t);
  const theirs = {
    pid: somePid,
    pidNamespace: otherNamespace,
    bootId: ourBoot,
    startTime: '77',
    token: 'e'.repeat(32),
  };
  writeLock(dir, theirs);
  // The holder's clock is years behind ours: only the change counts, never the value.
  setMtime(dir, new Date('2001-01-01T00:00:00Z'));
  const waited: number[] = [];
  const beatDuringTheLease = (ms: number): void => {
    waited.push(ms);
    setMtime(dir, new Date('2001-01-01T00:00:01Z'));
  };
  assert.throws(
    () =>
      DirLock.acquire(dir, {
        leaseMs: lease,
        probes: probesHere([], { sleep: beatDuringTheLease }),
      }),
    (error: unknown) => isLocked(error) && (error as Error).message.includes(`${somePid}`),
  );
  assert.deepEqual(waited, [lease], 'it watched the lock for one lease');
  assert.deepEqual(lockIn(dir), theirs, 'the lock is untouched');
});

test('a lock from another pid namespace whose mtime stands still for a lease is taken over', (t) => {
  const dir = tempDir(t);
  writeLock(dir, anotherOwner({ pidNamespace: otherNamespace }));
  // Far ahead of our clock (another host's): a stale lock is stale whatever its mtime says.
  setMtime(dir, new Date('2100-01-01T00:00:00Z'));
  const waited: number[] = [];
  acquired(t, dir, { leaseMs: lease, probes: probesHere(waited) });
  assert.deepEqual(waited, [lease], 'it watched the lock for one lease first');
  assert.equal(lockIn(dir).pid, process.pid);
  assert.notEqual(lockIn(dir).token, 'e'.repeat(32));
});

test('a lock from another pid namespace that another taker replaces during the lease is refused, though its mtime stands still', (t) => {
  const dir = tempDir(t);
  const judged = {
    pid: somePid,
    pidNamespace: otherNamespace,
    bootId: ourBoot,
    startTime: '77',
    token: 'e'.repeat(32),
  };
  writeLock(dir, judged);
  const at = new Date('2001-01-01T00:00:00Z');
  setMtime(dir, at);
  const replacedWithTheSameMtime = (): void => {
    writeLock(dir, { ...judged, pid: somePid + 1, token: 'f'.repeat(32) });
    setMtime(dir, at);
  };
  assert.throws(
    () =>
      DirLock.acquire(dir, {
        leaseMs: lease,
        probes: probesHere([], { sleep: replacedWithTheSameMtime }),
      }),
    isLockedBy(somePid + 1),
  );
  assert.equal(lockIn(dir).token, 'f'.repeat(32));
});

test("a lock from another pid namespace with this process's own pid is judged by its heartbeat, not taken as an earlier incarnation's", (t) => {
  // Two containers on one volume, each running its node as PID 1.
  const dir = tempDir(t);
  writeLock(
    dir,
    anotherOwner({ pid: process.pid, pidNamespace: otherNamespace, startTime: ourStartTime }),
  );
  const waited: number[] = [];
  const beat = (ms: number): void => {
    waited.push(ms);
    setMtime(dir, new Date(Date.now() + 1_000));
  };
  assert.throws(
    () => DirLock.acquire(dir, { leaseMs: lease, probes: probesHere([], { sleep: beat }) }),
    isLockedBy(process.pid),
  );
  assert.deepEqual(waited, [lease], 'it watched the lock for one lease');
  assert.equal(lockIn(dir).token, 'e'.repeat(32));
});

test('a lock from another host whose pid happens to be alive here is taken over once its mtime stands still for a lease', (t) => {
  // The initial pid namespace has the same number on every host; the boot id tells them apart.
  const dir = tempDir(t);
  writeLock(dir, anotherOwner({ bootId: otherBoot }));
  const waited: number[] = [];
  const probes = probesHere(waited, { isAlive: () => true, startTime: () => '77' });
  acquired(t, dir, { leaseMs: lease, probes });
  assert.deepEqual(waited, [lease]);
  assert.equal(lockIn(dir).pid, process.pid);
});

test('a lock from this pid namespace whose pid is alive but started at another time (a reused pid) is taken over at once', (t) => {
  const dir = tempDir(t);
  writeLock(dir, anotherOwner());
  const waited: number[] = [];
  const probes = probesHere(waited, {
    isAlive: (pid) => pid === somePid,
    startTime: (pid) => (pid === 'self' ? ourStartTime : pid === somePid ? '91234' : null),
  });
  acquired(t, dir, { leaseMs: lease, probes });
  assert.deepEqual(waited, [], 'no lease is waited for a lock of this namespace');
  assert.equal(lockIn(dir).pid, process.pid);
});

test('a lock from this pid namespace whose pid is alive and started at the recorded time is refused', (t) => {
  const dir = tempDir(t);
  writeLock(dir, anotherOwner());
  const probes = probesHere([], {
    isAlive: (pid) => pid === somePid,
    startTime: (pid) => (pid === 'self' ? ourStartTime : pid === somePid ? '77' : null),
  });
  assert.throws(() => DirLock.acquire(dir, { leaseMs: lease, probes }), isLockedBy(somePid));
  assert.equal(lockIn(dir).token, 'e'.repeat(32));
});

test('a lock from this pid namespace whose pid is alive but whose start time cannot be read is refused', (t) => {
  // hidepid, or /proc/<pid>/stat of another user: when in doubt, the owner is alive.
  const dir = tempDir(t);
  writeLock(dir, anotherOwner());
  const probes = probesHere([], { isAlive: (pid) => pid === somePid });
  assert.throws(() => DirLock.acquire(dir, { leaseMs: lease, probes }), isLockedBy(somePid));
  assert.equal(lockIn(dir).token, 'e'.repeat(32));
});

test('a lock from this pid namespace whose pid is not alive is taken over without waiting a lease', (t) => {
  const dir = tempDir(t);
  writeLock(dir, anotherOwner());
  const waited: number[] = [];
  acquired(t, dir, { leaseMs: lease, probes: probesHere(waited) });
  assert.deepEqual(waited, []);
  assert.equal(lockIn(dir).pid, process.pid);
});

test('an old plain-pid lock whose pid is alive is refused without waiting a lease, whatever that process started at', (t) => {
  // Read as this namespace with the start time unknown: a live pid is the owner.
  const dir = tempDir(t);
  writeFileSync(join(dir, 'LOCK'), `${somePid}\n`);
  const waited: number[] = [];
  const probes = probesHere(waited, { isAlive: (pid) => pid === somePid, startTime: () => '1' });
  assert.throws(() => DirLock.acquire(dir, { leaseMs: lease, probes }), isLockedBy(somePid));
  assert.deepEqual(waited, []);
  assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), `${somePid}\n`);
});

test('an old plain-pid lock whose pid is not alive is taken over without waiting a lease', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'LOCK'), `${somePid}\n`);
  const waited: number[] = [];
  acquired(t, dir, { leaseMs: lease, probes: probesHere(waited) });
  assert.deepEqual(waited, []);
  assert.equal(lockIn(dir).pid, process.pid);
});

test("two takers of one stale lock: the second to move it aside finds the first one's fresh lock, puts it back and is refused", (t) => {
  const dir = tempDir(t);
  writeLock(dir, anotherOwner());
  const options = { leaseMs: lease, probes: probesHere([]) };
  let quicker: DirLock | null = null;
  // Both judge the lock stale; the quicker one takes it over between the slower one's
  // judgement and its rename.
  assert.throws(
    () =>
      DirLock.acquire(dir, {
        ...options,
        beforeTakeover: () => {
          quicker = acquired(t, dir, options);
        },
      }),
    isLocked,
  );
  assert.ok(quicker !== null, 'the quicker taker got the lock');
  const held = lockIn(dir);
  assert.equal(held.pid, process.pid);
  assert.notEqual(held.token, 'e'.repeat(32));
  assert.deepEqual(readdirSync(dir), ['LOCK'], 'nothing left aside');
  // The lock in place is the quicker one's own: its release removes it.
  (quicker as DirLock).release();
  assert.equal(existsSync(join(dir, 'LOCK')), false);
});

/** Resolves with the loss a holder reports, or rejects after `ms`. */
function lossWithin(ms: number): {
  onLost: (error: RaftStorageError) => void;
  loss: Promise<RaftStorageError>;
} {
  let onLost: (error: RaftStorageError) => void = () => undefined;
  const loss = new Promise<RaftStorageError>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no loss reported within ${ms} ms`)), ms);
    onLost = (error) => {
      clearTimeout(timer);
      resolve(error);
    };
  });
  return { onLost, loss };
}

test('a holder whose lock was replaced by another process notices on its next heartbeat and reports the loss', async (t) => {
  const dir = tempDir(t);
  const { onLost, loss } = lossWithin(2_000);
  const holder = acquired(t, dir, { heartbeatMs: 10, onLost });
  const other = join(dir, 'other');
  writeFileSync(other, JSON.stringify({ ...lockIn(dir), pid: somePid, token: 'f'.repeat(32) }));
  renameSync(other, join(dir, 'LOCK'));
  const error = await loss;
  assert.equal(error.code, 'STORAGE_LOCKED');
  assert.match(error.message, /no longer holds the data dir/);
  holder.release();
  assert.equal(lockIn(dir).token, 'f'.repeat(32), "the release leaves the other's lock alone");
});

test('a holder whose lock was removed notices on its next heartbeat and reports the loss', async (t) => {
  const dir = tempDir(t);
  const { onLost, loss } = lossWithin(2_000);
  acquired(t, dir, { heartbeatMs: 10, onLost });
  unlinkSync(join(dir, 'LOCK'));
  assert.equal((await loss).code, 'STORAGE_LOCKED');
});

test("the holder's heartbeat moves its lock's mtime", async (t) => {
  const dir = tempDir(t);
  acquired(t, dir, { heartbeatMs: 10 });
  const old = new Date('2001-01-01T00:00:00Z');
  setMtime(dir, old);
  const deadline = Date.now() + 2_000;
  while (statSync(join(dir, 'LOCK')).mtimeMs === old.getTime()) {
    assert.ok(Date.now() < deadline, 'the mtime did not move within 2 s');
    await new Promise((r) => setTimeout(r, 10));
  }
});

test('a storage whose lock another process took refuses further use with STORAGE_LOCKED and reports it', async (t) => {
  const dir = tempDir(t);
  const { onLost, loss } = lossWithin(3_000);
  const storage = new FileRaftStorage<string>({ dir, onLockLost: onLost });
  t.after(() => storage.close());
  unlinkSync(join(dir, 'LOCK'));
  await loss;
  assert.throws(
    () => storage.persist({ hardState: { term: 1, vote: null, commit: 0 }, entriesToPersist: [] }),
    isLocked,
  );
});
