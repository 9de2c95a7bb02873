/**
 * A node must stop as soon as another process takes its data dir: two nodes on one Raft dir
 * vote twice and lose acknowledged entries. The holder's heartbeat notices within a second
 * that LOCK no longer holds its token (raft-storage-file.ts); the node then closes, and says
 * why: `closed` rejects with DATA_DIR_LOCKED, and `statehouse node` exits 1 with it.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode } from '../../src/node/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { freePort, spawnNode, stopProcess } from '../helpers/processes.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-taken-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const fast = { tickMs: 20, failureTimeoutMs: 600 };

/** What a process of another pid namespace leaves when it takes the dir over. */
const othersLock = `${JSON.stringify({
  pid: 1,
  pidNamespace: 'pid:[4026532999]',
  bootId: null,
  startTime: null,
  token: 'f'.repeat(32),
})}\n`;

function takeOver(dir: string): void {
  writeFileSync(join(dir, 'LOCK.other'), othersLock);
  renameSync(join(dir, 'LOCK.other'), join(dir, 'LOCK'));
}

test('a node whose data dir another process takes stops, and its closed promise rejects with DATA_DIR_LOCKED', async (t) => {
  const dir = tempDir(t);
  const node = await startNode({ port: 0, id: 'solo', dataDir: dir, ...fast });
  t.after(() => node.close());
  takeOver(dir);
  const deadline = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('the node did not stop within 3 s')), 3_000).unref(),
  );
  await assert.rejects(
    Promise.race([node.closed, deadline]),
    (error: unknown) => error instanceof StatehouseError && error.code === 'DATA_DIR_LOCKED',
  );
  assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), othersLock, "the other's lock stays");
});

test('statehouse node exits 1 with DATA_DIR_LOCKED when another process takes its data dir', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const child = await spawnNode(['--listen', `127.0.0.1:${port}`, '--data-dir', dir]);
  t.after(() => stopProcess(child, 'SIGKILL'));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  takeOver(dir);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  const [code] = await exited;
  clearTimeout(timer);
  assert.equal(code, 1, `exit code; stderr: ${stderr}`);
  // The command's own report of the error, not a crash on an unhandled rejection.
  assert.match(stderr, /^statehouse: DATA_DIR_LOCKED: this process no longer holds the data dir/m);
});

test('a node whose data dir is taken while it waits for its seeds gives up the start with DATA_DIR_LOCKED at once', async (t) => {
  const dir = tempDir(t);
  const silentSeed = `127.0.0.1:${await freePort()}`;
  const starting = startNode({
    port: 0,
    id: 'joiner',
    dataDir: dir,
    seeds: [silentSeed],
    joinTimeoutMs: 20_000,
    ...fast,
  });
  // If the start went on after all, it must not outlive the test.
  t.after(() => starting.then((node) => node.close()).catch(() => undefined));
  takeOver(dir);
  const deadline = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('the start went on for 3 s')), 3_000).unref(),
  );
  await assert.rejects(
    Promise.race([starting, deadline]),
    (error: unknown) => error instanceof StatehouseError && error.code === 'DATA_DIR_LOCKED',
  );
  assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8'), othersLock, "the other's lock stays");
});
