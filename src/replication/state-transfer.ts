/**
 * State transfer: how a partition's whole state travels to a backup that cannot be caught
 * up from the replication stream (a new copy, a returning one, one whose history diverged
 * from the new primary's after a failover).
 *
 * The primary takes the snapshot at one sequence number S, synchronously, with
 * `PartitionStore.snapshotState()`, which copies the values out of the store's arena (whose
 * slots later writes reuse) and the remembered idempotency results out of their mutable
 * maps: records taken between two writes are a consistent view at S, and writes after it
 * cannot reach into them. The copy costs the partition's value bytes on the primary for as
 * long as the transfer runs (it shared them before the values moved to an arena; a transfer
 * is rare, a write is not).
 *
 * The snapshot is cut into chunks of at most `chunkEntriesMax` items and about
 * `chunkBytesMax` bytes, so no message is large and a slow backup holds the primary up by at
 * most a few chunks in flight (partition-replica.ts does the flow control).
 *
 * Installing. The backup collects every chunk, then builds a new store from them with
 * `PartitionStore.load` (store/partition-store.ts), which holds exactly the primary's state at
 * S: the same entries, versions (so clients' `ifVersion` keeps working after a failover),
 * expiry times, remembered results with each client's lastSeenAt and forgottenUpTo mark, in
 * the same order, and lastSeq S. The stream then resumes at S+1.
 *
 * Honest limits: the backup keeps every chunk until the last one arrives and builds the new
 * store before it drops the old one, so it briefly holds the partition twice (and charges
 * both to its memory budget until the old store is cleared).
 */
import { PartitionStore } from '../store/index.js';
import type {
  Outcome,
  PartitionStoreOptions,
  SnapshotClient,
  SnapshotEntry,
} from '../store/index.js';

export type { SnapshotClient, SnapshotEntry } from '../store/index.js';

/** A consistent copy of a store at `seq`, cut into chunks. */
export interface Snapshot {
  readonly seq: number;
  readonly chunks: readonly SnapshotChunk[];
}

export interface SnapshotChunk {
  readonly entries: readonly SnapshotEntry[];
  readonly clients: readonly SnapshotClient[];
}

/**
 * Fixed per-item estimate of what a snapshot item costs on the wire beyond its key and value
 * bytes (MessagePack array headers, version and expiry numbers); 32 bytes errs high.
 */
const itemOverheadBytes = 32;

/** Takes a snapshot of the store as it is now, cut into bounded chunks. */
export function captureSnapshot(
  store: PartitionStore,
  chunkEntriesMax: number,
  chunkBytesMax: number,
): Snapshot {
  const state = store.snapshotState();
  const chunks: SnapshotChunk[] = [];
  let entries: SnapshotEntry[] = [];
  let clients: SnapshotClient[] = [];
  let bytes = 0;
  const cut = (): void => {
    chunks.push({ entries, clients });
    entries = [];
    clients = [];
    bytes = 0;
  };
  const room = (itemBytes: number): void => {
    const items = entries.length + clients.length;
    if (items > 0 && (items >= chunkEntriesMax || bytes + itemBytes > chunkBytesMax)) cut();
    bytes += itemBytes;
  };
  for (const entry of state.entries) {
    room(entry[0].length * 3 + entry[1].byteLength + itemOverheadBytes);
    entries.push(entry);
  }
  for (const client of state.remembered) {
    // Results are mostly small outcomes; a patch result may carry its value.
    let clientBytes = client.clientId.length * 3 + itemOverheadBytes;
    for (const [, outcome] of client.results) {
      clientBytes += itemOverheadBytes + outcomeBytes(outcome);
    }
    room(clientBytes);
    clients.push(client);
  }
  // Always at least one chunk: the last chunk is what tells the backup the transfer is whole.
  cut();
  return { seq: state.lastSeq, chunks };
}

function outcomeBytes(outcome: Outcome): number {
  return outcome.ok && outcome.result.op === 'patch' && outcome.result.value !== undefined
    ? outcome.result.value.byteLength
    : 0;
}

/**
 * Builds a new store equal to the primary's at `seq` from the snapshot's items, in the order
 * the chunks carried them (remembered clients least recently seen first).
 */
export function rebuildStore(
  options: PartitionStoreOptions,
  seq: number,
  entries: readonly SnapshotEntry[],
  clients: readonly SnapshotClient[],
): PartitionStore {
  return PartitionStore.load(options, { lastSeq: seq, entries, remembered: clients });
}
