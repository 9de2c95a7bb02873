/**
 * Remembered results of idempotent writes: why a retried write is answered, not applied twice.
 *
 * A client that loses the answer to a write (a timeout, a closed connection, a failover)
 * cannot know whether the write took effect, so it sends it again with the same id: its
 * client id and the request's sequence number. The partition remembers the outcome of every
 * write that carried an id, and answers a retry with that outcome instead of executing it
 * again. An increment retried after a timeout therefore counts once.
 *
 * The table is replicated with the data: the primary hands each remembered result to its
 * backups as a `result` mutation, so a retry that reaches a backup promoted after the
 * primary failed is still answered. For that to hold, a primary and its backups must remember
 * and forget exactly the same results, so everything here is a function of the sequence of
 * `remember` calls and their `at` times (the primary's clock, carried in the mutation), never
 * of a replica's own clock or of reads.
 *
 * Memory is bounded two ways:
 *  1. Per client, at most `resultsPerClientMax` results. Beyond that the lowest sequence
 *     number is forgotten, and the client's `forgottenUpTo` mark rises to it. A request at or
 *     below the mark that is not remembered may have been executed and forgotten, so it is
 *     answered RETRY_EXPIRED rather than risk applying it twice. (Forgetting the lowest first
 *     keeps the mark exact: every forgotten seq is at or below it and every seq above it that
 *     is not remembered was never executed here.) The window exceeds clientInFlightMax, so
 *     only a retry that lagged behind thousands of newer writes of the same client sees it.
 *  2. A client whose last remembered write is more than `clientIdleMs` old is forgotten
 *     entirely. Clients sit in a Map in last-seen order (a write moves its client to the end),
 *     so the idle ones are at the front, and each `remember` forgets at most
 *     `idlePruneBatch` of them: no request pays for a scan of all clients. Time is the
 *     largest `at` seen so far, so a clock that steps back makes nothing look idle sooner.
 *
 * Honest limits: a retry that arrives after its client was forgotten for idleness is executed
 * again; clients retry within seconds, the idle window is minutes. The number of clients is
 * bounded only by how many write within one idle window. A remembered patch result that
 * carries the new value keeps those bytes alive; they are not charged to the MemoryBudget.
 * Answering a retry does not refresh its client, because the backups never see it.
 */
import { AssertionError, assert } from '../core/assert.js';
import type { IdempotencyId, Outcome, SnapshotClient } from './types.js';

/**
 * Client ids are generated (a UUID is 36 characters); 256 leaves room for a readable prefix
 * while keeping a hostile client from making the table hold large strings.
 */
export const idempotencyClientIdLengthMax = 256;

/**
 * Idle clients forgotten per remembered write. Each write adds at most one client, so
 * forgetting up to 16 drains a backlog of idle clients quickly without one write stalling.
 */
const idlePruneBatch = 16;

/** What one client's results look like, for state transfer and for comparing replicas. */
export interface RememberedClient {
  readonly clientId: string;
  /** The `at` of this client's latest remembered write. */
  readonly lastSeenAt: number;
  /** Sequence numbers at or below this may have been forgotten; -1 while nothing was. */
  readonly forgottenUpTo: number;
  readonly results: ReadonlyMap<number, Outcome>;
}

interface ClientResults {
  readonly clientId: string;
  lastSeenAt: number;
  forgottenUpTo: number;
  readonly results: Map<number, Outcome>;
  /** A binary min-heap of the keys of `results`, so the lowest is forgotten first. */
  readonly seqs: number[];
}

/** Returned by `recall` when the request may have been executed and its result forgotten. */
export const retryExpired = Symbol('retryExpired');

export class IdempotencyTable {
  private readonly clients = new Map<string, ClientResults>();
  /** The client remembered last: the end of the Map's order already, so not moved again. */
  private newest: ClientResults | null = null;
  private clock = -Infinity;

  constructor(
    private readonly resultsPerClientMax: number,
    private readonly clientIdleMs: number,
  ) {}

  /** The remembered outcome, `retryExpired`, or undefined when the request is new. */
  recall(id: IdempotencyId): Outcome | typeof retryExpired | undefined {
    const client = this.clients.get(id.clientId);
    if (client === undefined) return undefined;
    const outcome = client.results.get(id.seq);
    if (outcome !== undefined) return outcome;
    return id.seq <= client.forgottenUpTo ? retryExpired : undefined;
  }

  /** Remembers an outcome at `at` (the primary's clock); the same on primary and backups. */
  remember(id: IdempotencyId, outcome: Outcome, at: number): void {
    if (at > this.clock) this.clock = at;
    let client = this.clients.get(id.clientId);
    if (client !== undefined && (client.results.has(id.seq) || id.seq <= client.forgottenUpTo)) {
      throw new AssertionError(
        `idempotency: ${id.clientId}#${id.seq} remembered twice or at or below ` +
          `${client.forgottenUpTo}; a retry must be answered from the table, not executed`,
      );
    }
    if (client === undefined) {
      client = {
        clientId: id.clientId,
        lastSeenAt: this.clock,
        forgottenUpTo: -1,
        results: new Map(),
        seqs: [],
      };
    } else {
      client.lastSeenAt = this.clock;
    }
    if (client !== this.newest) {
      // Re-inserting moves the client to the end of the Map: the queue stays in last-seen
      // order. A client writing again, the common case, is at the end already.
      this.clients.delete(id.clientId);
      this.clients.set(id.clientId, client);
      this.newest = client;
    }
    client.results.set(id.seq, outcome);
    heapPush(client.seqs, id.seq);
    // Results the client confirmed it received are never asked for again.
    const acked = id.ackedBelow;
    if (acked !== undefined) {
      while (client.seqs.length > 0 && client.seqs[0]! < acked && client.seqs[0]! !== id.seq) {
        const done = heapPop(client.seqs);
        client.results.delete(done);
        if (done > client.forgottenUpTo) client.forgottenUpTo = done;
      }
    }
    if (client.results.size > this.resultsPerClientMax) {
      const oldest = heapPop(client.seqs);
      client.results.delete(oldest);
      if (oldest > client.forgottenUpTo) client.forgottenUpTo = oldest;
    }
    this.forgetIdle();
  }

  private forgetIdle(): void {
    let forgotten = 0;
    for (const client of this.clients.values()) {
      if (forgotten === idlePruneBatch || this.clock - client.lastSeenAt <= this.clientIdleMs) {
        return;
      }
      // Never the newest: it was seen at the clock, so it is not idle.
      this.clients.delete(client.clientId);
      forgotten++;
    }
  }

  /**
   * Fills an empty table with a snapshot's clients, given least recently seen first (the
   * order `entries` yields), so that it remembers, forgets and orders exactly as the table
   * the snapshot was taken from. The clock comes back as the latest `lastSeenAt`: the
   * client remembered last is never idle-forgotten in the same call, so the table's clock is
   * always its newest client's `lastSeenAt`. The records come from our own primary, so a
   * malformed one is a bug and is asserted, not answered.
   */
  load(clients: readonly SnapshotClient[]): void {
    assert(
      this.clients.size === 0 && this.clock === -Infinity,
      'idempotency: load into a table that already remembers something',
    );
    for (const record of clients) {
      const { clientId, lastSeenAt, forgottenUpTo, results } = record;
      assert(
        typeof clientId === 'string' &&
          clientId.length > 0 &&
          clientId.length <= idempotencyClientIdLengthMax &&
          !this.clients.has(clientId),
        () => `idempotency load: client id ${JSON.stringify(clientId)} is invalid or repeated`,
      );
      assert(
        Number.isFinite(lastSeenAt) && lastSeenAt >= this.clock,
        () =>
          `idempotency load: ${clientId} last seen at ${lastSeenAt}, before ${this.clock}; ` +
          'clients must come least recently seen first',
      );
      assert(
        forgottenUpTo === -1 || (Number.isSafeInteger(forgottenUpTo) && forgottenUpTo >= 0),
        () => `idempotency load: ${clientId} has forgottenUpTo ${forgottenUpTo}`,
      );
      assert(
        results.length >= 1 && results.length <= this.resultsPerClientMax,
        () =>
          `idempotency load: ${clientId} has ${results.length} results, not 1 to ` +
          `${this.resultsPerClientMax} (do primary and backup share resultsPerClientMax?)`,
      );
      const map = new Map<number, Outcome>();
      for (const [seq, outcome] of results) {
        assert(
          Number.isSafeInteger(seq) && seq > forgottenUpTo && !map.has(seq),
          () =>
            `idempotency load: ${clientId}#${seq} is repeated, not an integer, or at or ` +
            `below forgottenUpTo ${forgottenUpTo}`,
        );
        assert(
          typeof outcome === 'object' && outcome !== null && typeof outcome.ok === 'boolean',
          () => `idempotency load: ${clientId}#${seq} has no outcome`,
        );
        map.set(seq, outcome);
      }
      // An ascending array is a valid binary min-heap.
      const seqs = [...map.keys()].sort((a, b) => a - b);
      const client = { clientId, lastSeenAt, forgottenUpTo, results: map, seqs };
      this.clients.set(clientId, client);
      this.newest = client;
      this.clock = lastSeenAt;
    }
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Every remembered client, least recently seen first. */
  *entries(): IterableIterator<RememberedClient> {
    yield* this.clients.values();
  }

  clear(): void {
    this.clients.clear();
    this.newest = null;
    this.clock = -Infinity;
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const above = heap[parent] as number;
    if (above <= value) break;
    heap[i] = above;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0];
  const last = heap.pop();
  assert(top !== undefined && last !== undefined, 'idempotency: pop from an empty seq heap');
  const n = heap.length;
  if (n === 0) return top;
  let i = 0;
  while (true) {
    const left = 2 * i + 1;
    if (left >= n) break;
    const right = left + 1;
    const child = right < n && (heap[right] as number) < (heap[left] as number) ? right : left;
    const below = heap[child] as number;
    if (below >= last) break;
    heap[i] = below;
    i = child;
  }
  heap[i] = last;
  return top;
}
