/**
 * The `acceptLoss` control command (statehouse accept-loss): an operator's decision to
 * restart a stuck partition empty, and nothing else.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  ClusterState,
  acceptLossCandidate,
  isStuck,
  type MemberRecord,
} from '../../src/control/index.js';
import { foundedCluster } from './helpers.js';

const member = (name: string, state: MemberRecord['state'] = 'active'): MemberRecord => ({
  id: name,
  name,
  address: `127.0.0.1:${7400 + name.charCodeAt(0)}`,
  state,
});

/** Four members, every partition on the founder a. */
function cluster(): ClusterState {
  return foundedCluster(
    ['a', 'b', 'c', 'd'].map((name) => member(name)),
    2,
  );
}

/** Partition 0 held by b (primary, in sync) and c (a copy still catching up). */
function stuckOnBAndC(): ClusterState {
  const state = cluster();
  assert.ok(
    state.apply({ type: 'placement', changes: [{ kind: 'addBackup', partition: 0, node: 'b' }] })
      .applied,
  );
  const epoch = state.table[0]!.epoch;
  assert.ok(state.apply({ type: 'inSync', partition: 0, node: 'b', epoch }).applied);
  assert.ok(
    state.apply({
      type: 'placement',
      changes: [{ kind: 'transferPrimary', partition: 0, to: 'b' }],
    }).applied,
  );
  assert.ok(
    state.apply({
      type: 'placement',
      changes: [
        { kind: 'removeReplica', partition: 0, node: 'a' },
        { kind: 'addBackup', partition: 0, node: 'c' },
      ],
    }).applied,
  );
  assert.ok(state.apply({ type: 'setState', id: 'b', state: 'dead' }).applied);
  return state;
}

test('a partition whose primary died with no in-sync copy left is stuck, a healthy one is not', () => {
  const state = stuckOnBAndC();
  assert.equal(isStuck(state, 0), true);
  assert.equal(isStuck(state, 1), false);
});

test('accepting the loss restarts the partition empty at a new epoch on a member without a copy', () => {
  const state = stuckOnBAndC();
  const before = state.table[0]!;
  const candidate = acceptLossCandidate(state, 0);
  assert.ok(candidate !== null && candidate !== 'c' && candidate !== 'b', String(candidate));
  const result = state.apply({ type: 'acceptLoss', partition: 0, newPrimary: candidate });
  assert.ok(result.applied, result.reason);
  assert.deepEqual(state.table[0], {
    epoch: before.epoch + 1,
    primary: candidate,
    backups: [],
    inSync: [candidate],
  });
  assert.equal(isStuck(state, 0), false);
});

test('accepting the loss of a partition that is not stuck changes nothing', () => {
  const state = stuckOnBAndC();
  const version = state.tableVersion;
  const result = state.apply({ type: 'acceptLoss', partition: 1, newPrimary: 'd' });
  assert.equal(result.applied, false);
  assert.match(result.reason ?? '', /nothing is lost/);
  assert.equal(state.tableVersion, version);
});

test('a member holding a stale copy of the partition cannot restart it', () => {
  const state = stuckOnBAndC();
  const result = state.apply({ type: 'acceptLoss', partition: 0, newPrimary: 'c' });
  assert.equal(result.applied, false);
  assert.match(result.reason ?? '', /stale copy/);
});
