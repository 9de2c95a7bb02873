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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftNode } from '../../src/raft/index.js';
import { FileRaftStorage } from '../../src/node/raft-storage.js';
import { startNodeInChild } from '../helpers/start-node-in-child.js';
import type { ControlCommand } from '../../src/control/index.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-founder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const random = { next: () => 0.5, int: (n: number) => Math.floor(n / 2) };

const fast = { port: 0, id: 'solo', tickMs: 20, failureTimeoutMs: 600 };

/** The ControlPlane's founder (voters [self], campaign() at once), its first Ready persisted. */
function founderAfterItsFirstReady(dir: string) {
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
  return { raft, storage, id };
}

test('a founder killed before its bootstrap entry was written is refused at once with DATA_DIR_CORRUPT', async (t) => {
  const dir = tempDir(t);
  const { storage } = founderAfterItsFirstReady(dir);
  storage.close(); // kill -9 here: the next tick would have proposed the bootstrap entry
  const line = await startNodeInChild({ ...fast, dataDir: dir }, 10_000);
  assert.match(
    line,
    /^FAILED DATA_DIR_CORRUPT .*Remove the data dir/,
    `the restarted founder: ${line}`,
  );
});

test('a founder killed after its bootstrap entry but before its identity was written is refused at once with DATA_DIR_CORRUPT', async (t) => {
  const dir = tempDir(t);
  const { raft, storage, id } = founderAfterItsFirstReady(dir);
  raft.propose({
    type: 'bootstrap',
    clusterId: 'c0ffee00-0000-4000-8000-000000000000',
    settings: { partitionCount: 256, replicationFactor: 2 },
    member: { id, name: 'solo', address: '127.0.0.1:1', state: 'active' },
  } as ControlCommand);
  // This Ready is persisted (entry 2 and commit 2); writeMeta would follow its apply.
  storage.persist(raft.ready());
  storage.close(); // kill -9 here: meta was never written
  const line = await startNodeInChild({ ...fast, dataDir: dir, joinTimeoutMs: 2_000 }, 10_000);
  assert.match(
    line,
    /^FAILED DATA_DIR_CORRUPT .*Remove the data dir/,
    `the restarted founder: ${line}`,
  );
});
