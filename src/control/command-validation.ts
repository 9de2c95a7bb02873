/**
 * Checks that a value from the network is a well-formed control command, before Raft may
 * carry it in an entry. Peers are authenticated, but a bug or a version skew must not put a
 * malformed command into the log, where every node would meet it forever.
 */
import type { ControlCommand, MemberRecord } from './cluster-state.js';
import type { PlacementChange } from './placement.js';
import { isPlainMap, isUint } from '../core/shape.js';
import { decodeValue } from '../core/value-codec.js';

const memberStates = new Set(['active', 'joining', 'draining', 'dead']);
const stringMax = 256;

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= stringMax;
}

function isMember(v: unknown): v is MemberRecord {
  return (
    isPlainMap(v) &&
    isId(v['id']) &&
    isId(v['name']) &&
    isId(v['address']) &&
    (v['zone'] === undefined || isId(v['zone'])) &&
    typeof v['state'] === 'string' &&
    memberStates.has(v['state'])
  );
}

function isChange(v: unknown): v is PlacementChange {
  if (!isPlainMap(v) || !isUint(v['partition'])) return false;
  switch (v['kind']) {
    case 'promote':
      return isId(v['newPrimary']);
    case 'addBackup':
    case 'removeReplica':
      return isId(v['node']);
    case 'transferPrimary':
      return isId(v['to']);
    default:
      return false;
  }
}

export function isControlCommand(v: unknown): v is ControlCommand {
  if (!isPlainMap(v)) return false;
  switch (v['type']) {
    case 'bootstrap': {
      const s = v['settings'];
      return (
        isId(v['clusterId']) &&
        isMember(v['member']) &&
        isPlainMap(s) &&
        isUint(s['partitionCount']) &&
        (s['partitionCount'] as number) > 0 &&
        isUint(s['replicationFactor']) &&
        (s['replicationFactor'] as number) > 0
      );
    }
    case 'join':
      return isMember(v['member']);
    case 'setState':
      return isId(v['id']) && typeof v['state'] === 'string' && memberStates.has(v['state']);
    case 'remove':
    case 'lostCopies':
      return isId(v['id']);
    case 'acceptLoss':
      return isUint(v['partition']) && isId(v['newPrimary']);
    case 'placement':
      return (
        Array.isArray(v['changes']) &&
        v['changes'].length <= 100_000 &&
        v['changes'].every(isChange)
      );
    case 'inSync':
    case 'outOfSync':
      return isUint(v['partition']) && isId(v['node']) && isUint(v['epoch']);
    default:
      return false;
  }
}

function isIdList(v: unknown): boolean {
  return Array.isArray(v) && v.every(isId);
}

function isAssignment(v: unknown): boolean {
  return (
    isPlainMap(v) &&
    isUint(v['epoch']) &&
    (v['primary'] === null || isId(v['primary'])) &&
    isIdList(v['backups']) &&
    isIdList(v['inSync'])
  );
}

/**
 * Whether the bytes of a Raft snapshot from a peer are a cluster state (ClusterState.snapshot),
 * checked before Raft may persist it: one that is not would fail every restore, this one and
 * each restart from the data dir after it.
 */
export function isClusterStateSnapshot(bytes: Uint8Array): boolean {
  let s: unknown;
  try {
    s = decodeValue(bytes);
  } catch {
    return false;
  }
  if (!isPlainMap(s)) return false;
  const settings = s['settings'];
  const settingsOk =
    settings === null ||
    (isPlainMap(settings) &&
      isUint(settings['partitionCount']) &&
      (settings['partitionCount'] as number) > 0 &&
      isUint(settings['replicationFactor']) &&
      (settings['replicationFactor'] as number) > 0);
  return (
    (s['clusterId'] === null || isId(s['clusterId'])) &&
    settingsOk &&
    Array.isArray(s['members']) &&
    s['members'].every(isMember) &&
    Array.isArray(s['table']) &&
    s['table'].every(isAssignment) &&
    isUint(s['tableVersion']) &&
    (s['replaced'] === undefined || isIdList(s['replaced']))
  );
}
