/**
 * A joiner killed before its log recorded the cluster's settings asks its seeds for the
 * partition count when it resumes, as a new node does. Found by review: it took the default
 * (256) instead.
 *
 * A new node with --seeds learns the partition count from a seed. Once the leader adds it as
 * a learner, the leader's first append is a probe that the empty follower rejects, but the
 * follower persists the leader's term: a data dir with a hardstate and no entries, no
 * snapshot, no meta. A kill -9 before the entries or the snapshot arrive (one round trip, or
 * the time to ship a snapshot) leaves exactly that. On restart storage.load() is not null, so
 * start-node takes partitionCountResumed(given, settingsInLog(...) = null), which returns
 * `given ?? partitionCountDefault` (256) without asking the seeds. The cluster has 16; the node
 * logs "the cluster has another partition count", never takes a table, and startNode fails
 * with TIMEOUT after 30 s. README: "a node resumed from --data-dir [takes] the count its log
 * records" -- this log records none, so the seeds should be asked as for a new node.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode } from '../../src/node/index.js';
import { FileRaftStorage } from '../../src/node/raft-storage.js';
import { startNodeInChild } from '../helpers/start-node-in-child.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-joiner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const fast = { tickMs: 20, failureTimeoutMs: 600 };

test("a joiner killed after persisting only the leader's term resumes with the cluster's partition count", async (t) => {
  const seed = await startNode({ port: 0, id: 'a', partitions: 16, ...fast });
  t.after(() => seed.close());
  const dir = tempDir(t);
  // What the joiner's data dir holds after it rejected the leader's first probe and was killed.
  const storage = new FileRaftStorage<unknown>({ dir });
  storage.persist({ hardState: { term: 1, vote: null, commit: 0 }, entriesToPersist: [] });
  storage.close();
  const line = await startNodeInChild(
    { port: 0, id: 'b', seeds: [seed.address], dataDir: dir, ...fast },
    12_000,
  );
  assert.match(line, /^STARTED /, `the restarted joiner did not start: ${line}`);
});
