/**
 * State transfer: how a partition's whole state travels to a backup that cannot be caught
 * up from the replication stream (a new copy, a returning one, one whose history diverged
 * from the new primary's after a failover).
 *
 * The primary takes the snapshot at one sequence number S, synchronously, by copying
 * references: entries are never changed in place by the store (a write replaces the entry
 * object), so an array of `[key, entry]` pairs taken between two writes is a consistent view
 * at S, and writes after it cannot reach into it. Remembered idempotency results are kept in
 * mutable maps, so those are copied. The copy costs one pointer per entry on the primary for
 * as long as the transfer runs; it does not copy values.
 *
 * The snapshot is cut into chunks of at most `chunkEntriesMax` items and about
 * `chunkBytesMax` bytes, so no message is large and a slow backup holds the primary up by at
 * most a few chunks in flight (partition-replica.ts does the flow control).
 *
 * Installing. The store has no "load a snapshot" door, only `apply(mutations)`, which takes
 * mutations numbered 1, 2, 3... without gaps, and a put's seq becomes the entry's version. So
 * `rebuildStore` writes a synthetic stream that ends in exactly the primary's state at S:
 *
 *  - every entry is put at seq = its version, with its value and absolute expiry, so versions
 *    match the primary's (clients' `ifVersion` keeps working after a failover);
 *  - every remembered client is re-remembered, least recently seen first (the table's
 *    order), each result at the client's `lastSeenAt`; a client whose `forgottenUpTo` mark is
 *    set gets a throwaway result at that seq first, which the next result forgets through
 *    `ackedBelow`, so the mark comes out exact;
 *  - the remaining seqs are filled with mutations that change nothing in the end: an expiry
 *    change to the same time on a key already present, or, before the first entry, a put of
 *    the next entry's key that its real put overwrites later.
 *
 * That this always fits in S seqs is not luck: each live entry's version, each remembered
 * result and each forgotten mark was a distinct mutation of the primary's own stream.
 * The one corner the fillers above cannot cover is a partition with no entries at all and
 * exactly one seq to fill; there a throwaway result at time -Infinity is remembered first,
 * and the table forgets it at once as idle (its age is NaN, which is not "recent"). That
 * leans on idempotency.ts's arithmetic; a `PartitionStore.load(snapshot)` would be the clean
 * fix and is the first thing to add to the store if this module is touched again.
 *
 * Honest limits: the backup keeps every chunk until the last one arrives (entries arrive in
 * the primary's map order, and the stream must be ordered by version), so it briefly holds
 * the partition twice. Idle clients beyond the table's prune batch may be forgotten during
 * the rebuild a little earlier than the primary forgets them; only a retry arriving minutes
 * late could tell.
 */
import { assert } from '../core/assert.js';
import { ErrorCode } from '../core/errors.js';
import { PartitionStore } from '../store/index.js';
import type {
  EntryView,
  IdempotencyId,
  Mutation,
  Outcome,
  PartitionStoreOptions,
} from '../store/index.js';

/** One entry in a snapshot: key, encoded value, version, absolute expiry (0: never). */
export type SnapshotEntry = readonly [
  key: string,
  value: Uint8Array,
  version: number,
  expiresAt: number,
];

/** One client's remembered idempotency results, as the table holds them. */
export interface SnapshotClient {
  readonly clientId: string;
  readonly lastSeenAt: number;
  readonly forgottenUpTo: number;
  /** [client request seq, outcome], any order. */
  readonly results: readonly (readonly [number, Outcome])[];
}

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

const fillerKey = '\u0000statehouse-snapshot-filler';

/** Takes a snapshot of the store as it is now, cut into bounded chunks. */
export function captureSnapshot(
  store: PartitionStore,
  chunkEntriesMax: number,
  chunkBytesMax: number,
): Snapshot {
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
  for (const [key, entry] of store.entries()) {
    room(key.length * 3 + entry.value.byteLength + itemOverheadBytes);
    entries.push(snapshotEntry(key, entry));
  }
  for (const client of store.remembered()) {
    // Results are mostly small outcomes; a patch result may carry its value.
    let clientBytes = client.clientId.length * 3 + itemOverheadBytes;
    const results: (readonly [number, Outcome])[] = [];
    for (const [seq, outcome] of client.results) {
      results.push([seq, outcome]);
      clientBytes += itemOverheadBytes + outcomeBytes(outcome);
    }
    room(clientBytes);
    clients.push({
      clientId: client.clientId,
      lastSeenAt: client.lastSeenAt,
      forgottenUpTo: client.forgottenUpTo,
      results,
    });
  }
  // Always at least one chunk: the last chunk is what tells the backup the transfer is whole.
  cut();
  return { seq: store.lastSeq, chunks };
}

function snapshotEntry(key: string, entry: EntryView): SnapshotEntry {
  return [key, entry.value, entry.version, entry.expiresAt];
}

function outcomeBytes(outcome: Outcome): number {
  return outcome.ok && outcome.result.op === 'patch' && outcome.result.value !== undefined
    ? outcome.result.value.byteLength
    : 0;
}

/** Builds a new store equal to the primary's at `seq` from the snapshot's items. */
export function rebuildStore(
  options: PartitionStoreOptions,
  seq: number,
  entries: readonly SnapshotEntry[],
  clients: readonly SnapshotClient[],
): PartitionStore {
  const store = new PartitionStore(options);
  store.apply(restoreStream(seq, entries, clients));
  assert(
    store.lastSeq === seq,
    () => `state transfer: rebuilt store ends at ${store.lastSeq}, not ${seq}`,
  );
  return store;
}

/**
 * The synthetic mutation stream 1..seq that leaves exactly these entries and remembered
 * results (see the module comment). Exported for tests.
 */
export function restoreStream(
  seq: number,
  entries: readonly SnapshotEntry[],
  clients: readonly SnapshotClient[],
): Mutation[] {
  const sorted = [...entries].sort((a, b) => a[2] - b[2]);
  const remember = rememberOps(clients);
  const anchored = new Map<number, SnapshotEntry>();
  for (const entry of sorted) {
    assert(
      Number.isSafeInteger(entry[2]) && entry[2] >= 1 && entry[2] <= seq,
      () => `state transfer: entry ${entry[0]} has version ${entry[2]} outside 1..${seq}`,
    );
    assert(!anchored.has(entry[2]), () => `state transfer: two entries at version ${entry[2]}`);
    anchored.set(entry[2], entry);
  }
  const free = seq - sorted.length;
  assert(
    remember.length <= free,
    () =>
      `state transfer: ${sorted.length} entries and ${remember.length} remembered results ` +
      `do not fit in ${seq} sequence numbers; the snapshot is not of one store`,
  );
  let fillers = free - remember.length;
  const out: Mutation[] = [];
  let nextEntry = 0;
  let present: SnapshotEntry | undefined;
  let rememberAt = 0;
  // The empty-partition corner: one filler and no key to hang it on (see the module comment).
  if (sorted.length === 0 && fillers === 1) {
    out.push({
      kind: 'result',
      seq: 1,
      id: { clientId: fillerKey, seq: 0 },
      outcome: fillerOutcome,
      at: -Infinity,
    });
    fillers = 0;
  }
  let dummyPresent = false;
  for (let s = out.length + 1; s <= seq; s++) {
    const entry = anchored.get(s);
    if (entry !== undefined) {
      out.push({ kind: 'put', seq: s, key: entry[0], value: entry[1], expiresAt: entry[3] });
      present = entry;
      nextEntry++;
      continue;
    }
    // Remembered results take the first free seqs, fillers the rest: only the order among
    // the results matters, not which seqs they get.
    const op = remember[rememberAt];
    if (op !== undefined) {
      out.push({ kind: 'result', seq: s, id: op.id, outcome: op.outcome, at: op.at });
      rememberAt++;
      continue;
    }
    assert(fillers > 0, () => `state transfer: no mutation for seq ${s}`);
    fillers--;
    if (present !== undefined) {
      out.push({ kind: 'expiry', seq: s, key: present[0], expiresAt: present[3] });
    } else if (nextEntry < sorted.length) {
      const next = sorted[nextEntry] as SnapshotEntry;
      out.push({ kind: 'put', seq: s, key: next[0], value: next[1], expiresAt: next[3] });
      present = next;
    } else if (!dummyPresent) {
      // No entries at all: a throwaway key, deleted by the last filler.
      out.push({ kind: 'put', seq: s, key: fillerKey, value: emptyValue, expiresAt: 0 });
      dummyPresent = true;
    } else if (fillers === 0) {
      out.push({ kind: 'delete', seq: s, key: fillerKey });
      dummyPresent = false;
    } else {
      out.push({ kind: 'expiry', seq: s, key: fillerKey, expiresAt: 0 });
    }
  }
  assert(!dummyPresent && rememberAt === remember.length, 'state transfer: stream incomplete');
  return out;
}

const emptyValue = new Uint8Array(0);

const fillerOutcome: Outcome = {
  ok: false,
  code: ErrorCode.BAD_REQUEST,
  message: 'state transfer filler',
};

interface RememberOp {
  readonly id: IdempotencyId;
  readonly outcome: Outcome;
  readonly at: number;
}

function rememberOps(clients: readonly SnapshotClient[]): RememberOp[] {
  const ops: RememberOp[] = [];
  for (const client of clients) {
    const results = [...client.results].sort((a, b) => a[0] - b[0]);
    assert(results.length > 0, () => `state transfer: client ${client.clientId} has no results`);
    const at = client.lastSeenAt;
    const mark = client.forgottenUpTo;
    if (mark >= 0) {
      ops.push({ id: { clientId: client.clientId, seq: mark }, outcome: fillerOutcome, at });
    }
    results.forEach(([seq, outcome], i) => {
      const id: IdempotencyId =
        i === 0 && mark >= 0
          ? { clientId: client.clientId, seq, ackedBelow: mark + 1 }
          : { clientId: client.clientId, seq };
      ops.push({ id, outcome, at });
    });
  }
  return ops;
}
