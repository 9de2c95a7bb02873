/**
 * A founder killed while founding (between persisting its first Ready and applying its
 * bootstrap entry, which writes the node's identity) leaves Raft state without the identity.
 * Found by review: every later start with that dir waited out its timeout (30-60 s) and
 * failed TIMEOUT, for good, as no voter could ever be elected. Nothing was served from such a
 * dir, so the start now refuses at once with DATA_DIR_CORRUPT, saying to remove it.
 *
 * The crash state is made the way the crash makes it: a RaftNode configured as the
 * ControlPlane's founder, its Readies persisted by FileRaftStorage, then the process "dies".
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftNode } from '../../src/raft/index.js';
import { FileRaftStorage } from '../../src/node/raft-storage.js';
import type { ControlCommand } from '../../src/control/index.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-founder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const random = { next: () => 0.5, int: (n: number) => Math.floor(n / 2) };

/** Starts a node in a child process; resolves with its one line of output, or 'HUNG'. */
function startInChild(options: object, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/helpers/start-node-child.ts', JSON.stringify(options)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), waitMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(out.trim() === '' ? 'HUNG' : out.trim());
    });
  });
}

const fast = { port: 0, id: 'solo', tickMs: 20, failureTimeoutMs: 600 };

test('a founder killed before its bootstrap entry was written is refused at once with DATA_DIR_CORRUPT', async (t) => {
  const dir = tempDir(t);
  const id = 'solo~abcdef';
  // The ControlPlane founder: voters [self], campaign() in the constructor, first Ready persisted.
  const raft = new RaftNode<ControlCommand>({
    id,
    random,
    electionTimeoutTicks: 10,
    heartbeatIntervalTicks: 1,
    voters: [id],
    learners: [],
  });
  raft.campaign();
  const storage = new FileRaftStorage<ControlCommand>({ dir });
  while (raft.hasReady()) {
    storage.persist(raft.ready());
    raft.advance();
  }
  storage.close(); // kill -9 here: the next tick would have proposed the bootstrap entry
  const line = await startInChild({ ...fast, dataDir: dir }, 10_000);
  assert.match(
    line,
    /^FAILED DATA_DIR_CORRUPT .*Remove the data dir/,
    `the restarted founder: ${line}`,
  );
});

test('a founder killed after its bootstrap entry but before its identity was written is refused at once with DATA_DIR_CORRUPT', async (t) => {
  const dir = tempDir(t);
  const id = 'solo~abcdef';
  const raft = new RaftNode<ControlCommand>({
    id,
    random,
    electionTimeoutTicks: 10,
    heartbeatIntervalTicks: 1,
    voters: [id],
    learners: [],
  });
  raft.campaign();
  const storage = new FileRaftStorage<ControlCommand>({ dir });
  while (raft.hasReady()) {
    storage.persist(raft.ready());
    raft.advance();
  }
  raft.propose({
    type: 'bootstrap',
    clusterId: 'c0ffee00-0000-4000-8000-000000000000',
    settings: { partitionCount: 256, replicationFactor: 2 },
    member: { id, name: 'solo', address: '127.0.0.1:1', state: 'active' },
  } as ControlCommand);
  // This Ready is persisted (entry 2 and commit 2); writeMeta would follow its apply.
  storage.persist(raft.ready());
  storage.close(); // kill -9 here: meta was never written
  const line = await startInChild({ ...fast, dataDir: dir, joinTimeoutMs: 2_000 }, 10_000);
  assert.match(
    line,
    /^FAILED DATA_DIR_CORRUPT .*Remove the data dir/,
    `the restarted founder: ${line}`,
  );
});
