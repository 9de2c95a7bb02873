import test from 'node:test';
import assert from 'node:assert/strict';
import {
  ClusterState,
  settingsInLog,
  type ControlCommand,
  type MemberRecord,
} from '../../src/control/index.js';

const member = (name: string, state: MemberRecord['state'] = 'active'): MemberRecord => ({
  id: `${name}~1`,
  name,
  address: `127.0.0.1:${7400 + name.charCodeAt(0)}`,
  state,
});

function founded(): ClusterState {
  const state = new ClusterState();
  state.apply({
    type: 'bootstrap',
    clusterId: 'c1',
    settings: { partitionCount: 8, replicationFactor: 2 },
    member: member('a'),
  });
  return state;
}

test('bootstrap founds the cluster with every partition on the founder', () => {
  const state = founded();
  assert.equal(state.clusterId, 'c1');
  assert.equal(state.table.length, 8);
  assert.ok(state.table.every((a) => a.primary === 'a~1'));
});

test('a second bootstrap is skipped and changes nothing', () => {
  const state = founded();
  const result = state.apply({
    type: 'bootstrap',
    clusterId: 'c2',
    settings: { partitionCount: 16, replicationFactor: 3 },
    member: member('b'),
  });
  assert.equal(result.applied, false);
  assert.equal(state.clusterId, 'c1');
  assert.equal(state.table.length, 8);
});

test('a new incarnation of a name replaces the old one, which is declared dead', () => {
  const state = founded();
  state.apply({ type: 'join', member: member('b') });
  state.apply({ type: 'join', member: { ...member('b'), id: 'b~2' } });
  assert.equal(state.member('b~1')?.state, 'dead');
  assert.equal(state.member('b~2')?.state, 'active');
  assert.equal(state.memberByName('b')?.id, 'b~2');
});

test('a placement change that no longer fits the table is skipped on every node alike', () => {
  const state = founded();
  state.apply({ type: 'join', member: member('b') });
  const version = state.tableVersion;
  const stale: ControlCommand = {
    type: 'placement',
    changes: [{ kind: 'promote', partition: 0, newPrimary: 'b~1' }],
  };
  assert.equal(state.apply(stale).applied, false);
  assert.equal(state.tableVersion, version);
  assert.equal(state.table[0]!.primary, 'a~1');
});

test('a copy becomes in sync only for the epoch it was reported in', () => {
  const state = founded();
  state.apply({ type: 'join', member: member('b') });
  state.apply({ type: 'placement', changes: [{ kind: 'addBackup', partition: 3, node: 'b~1' }] });
  const epoch = state.table[3]!.epoch;
  assert.equal(
    state.apply({ type: 'inSync', partition: 3, node: 'b~1', epoch: epoch - 1 }).applied,
    false,
  );
  assert.equal(state.apply({ type: 'inSync', partition: 3, node: 'b~1', epoch }).applied, true);
  assert.deepEqual(state.table[3]!.inSync, ['a~1', 'b~1']);
});

test('taking a copy out of sync starts a new epoch, so a late report of the old one cannot put it back', () => {
  const state = founded();
  state.apply({ type: 'join', member: member('b') });
  state.apply({ type: 'placement', changes: [{ kind: 'addBackup', partition: 3, node: 'b~1' }] });
  const epoch = state.table[3]!.epoch;
  state.apply({ type: 'inSync', partition: 3, node: 'b~1', epoch });
  assert.equal(state.apply({ type: 'outOfSync', partition: 3, node: 'b~1', epoch }).applied, true);
  assert.equal(state.table[3]!.epoch, epoch + 1);
  assert.deepEqual(state.table[3]!.inSync, ['a~1']);
  assert.equal(state.apply({ type: 'inSync', partition: 3, node: 'b~1', epoch }).applied, false);
});

test('a member holding partitions cannot be removed', () => {
  const state = founded();
  assert.equal(state.apply({ type: 'remove', id: 'a~1' }).applied, false);
  assert.ok(state.member('a~1'));
});

test('a snapshot restores an equal state', () => {
  const state = founded();
  state.apply({ type: 'join', member: { ...member('b'), zone: 'z2' } });
  state.apply({ type: 'placement', changes: [{ kind: 'addBackup', partition: 1, node: 'b~1' }] });
  const copy = new ClusterState();
  copy.restore(state.snapshot());
  assert.deepEqual(copy.members, state.members);
  assert.deepEqual(copy.table, state.table);
  assert.equal(copy.tableVersion, state.tableVersion);
  assert.equal(copy.clusterId, state.clusterId);
});

test('lostCopies drops a restarted member’s copies and promotes an in-sync backup where it led', () => {
  const state = founded();
  state.apply({ type: 'join', member: member('b') });
  state.apply({
    type: 'placement',
    changes: [
      { kind: 'addBackup', partition: 0, node: 'b~1' },
      { kind: 'addBackup', partition: 1, node: 'b~1' },
    ],
  });
  state.apply({ type: 'inSync', partition: 0, node: 'b~1', epoch: state.table[0]!.epoch });
  state.apply({
    type: 'placement',
    changes: [{ kind: 'transferPrimary', partition: 0, to: 'b~1' }],
  });
  // Now b leads partition 0 (a in sync behind it) and holds a catching-up copy of partition 1.
  assert.equal(state.table[0]!.primary, 'b~1');
  const before0 = state.table[0]!.epoch;
  assert.equal(state.apply({ type: 'lostCopies', id: 'b~1' }).applied, true);
  assert.equal(state.table[0]!.primary, 'a~1', 'the in-sync backup took over');
  assert.ok(state.table[0]!.epoch > before0, 'in a new epoch');
  assert.ok(!state.table[0]!.inSync.includes('b~1'));
  assert.ok(state.table.every((a) => a.primary !== 'b~1' && !a.backups.includes('b~1')));
  assert.equal(state.apply({ type: 'lostCopies', id: 'b~1' }).applied, false, 'nothing left');
});

test("a persisted log's settings are read from its snapshot, or else from its bootstrap entry", () => {
  const settings = { partitionCount: 8, replicationFactor: 2 };
  const bootstrap: ControlCommand = {
    type: 'bootstrap',
    clusterId: 'c1',
    settings,
    member: member('a'),
  };
  assert.deepEqual(settingsInLog(founded().snapshot(), []), settings);
  assert.deepEqual(
    settingsInLog(null, [{ kind: 'noop' }, { kind: 'normal', data: bootstrap }]),
    settings,
  );
  assert.equal(settingsInLog(new ClusterState().snapshot(), [{ kind: 'noop' }]), null);
});
