/**
 * The Statehouse client: typed operations, routed to the right node, retried safely.
 *
 * A call is sent to the primary of its key's partition, per the cached partition table.
 * It is retried, within its deadline, when the answer says to look elsewhere or wait:
 * - NOT_PRIMARY: the table is stale; refresh it and go to the new primary;
 * - UNAVAILABLE, CONNECTION_CLOSED: the partition or node is between owners; back off, learn
 *   the table again from the other nodes first, retry.
 * Every write carries this client's id and a sequence number fixed for the call, so a retry
 * of a write the node already applied is answered from the node's memory of it, not applied
 * again. When the deadline passes after a write was sent without an answer, the error says
 * `inDoubt: true`: the write may or may not have happened.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, StatehouseError } from '../core/errors.js';
import {
  keyBytesMaxDefault,
  requestTimeoutMsDefault,
  valueBytesMaxDefault,
} from '../core/limits.js';
import { utf8ByteLength } from '../core/keys.js';
import { decodeValue, encodeValue, encodeValueTransient } from '../core/value-codec.js';
import { encodeCommand } from '../protocol/command-encoder.js';
import {
  encodeRequest,
  type AcceptLossResult,
  type ClusterStatusView,
  type Durability,
  type ReadFrom,
  type Reply,
} from '../protocol/index.js';
import type { Command, PatchOp } from '../store/types.js';
import { parseAddress } from '../core/address.js';
import { NodeConnection } from './node-connection.js';
import { Router, isTable } from './router.js';

export interface ClientOptions {
  /** Addresses (`host:port`) of one or more nodes; the client learns the rest. */
  seeds: string | readonly string[];
  /** Shown in node logs. Default `statehouse-client`. */
  name?: string;
  /** The node's token, when it requires one. */
  token?: string;
  /**
   * Deadline per call, retries included, in milliseconds; `connect()` itself, which makes the
   * first call (the partition table), resolves or fails within it too. Default 5000.
   */
  timeoutMs?: number;
  /** Deadline for one connection's connect and handshake, in milliseconds. Default 2000. */
  connectTimeoutMs?: number;
  /** Default durability of writes. Default `sync`. */
  durability?: Durability;
  /**
   * Send every command to a seed, which forwards it to the partition's primary, instead of
   * going to the primary directly. For a client that can reach only its seeds (one address
   * behind a firewall or a load balancer); it costs one more hop per call. Default false.
   */
  forward?: boolean;
}

export interface CallOptions {
  /** Overrides the client's deadline for this call, in milliseconds. */
  timeoutMs?: number;
}

export interface ReadOptions extends CallOptions {
  /** `primary` (default) is linearizable; `any` may answer from a backup and be stale. */
  readFrom?: ReadFrom;
}

export interface WriteOptions extends CallOptions {
  /** `sync` (default): answered once every in-sync replica applied it; `async`: once the primary did. */
  durability?: Durability;
}

export interface SetOptions extends WriteOptions {
  /** Expire the entry this many milliseconds from now. Without it, a set clears any expiry. */
  ttlMs?: number;
  /** Keep the entry's current expiry. */
  keepTtl?: boolean;
  /** Write only if the entry's version is this; 0 means only if absent. */
  ifVersion?: number;
  /** Write only if the key is absent. */
  ifAbsent?: boolean;
}

export interface PatchOptions extends WriteOptions {
  ttlMs?: number;
  ifVersion?: number;
  /** Start from `{}` when the key is absent (default true); false answers NOT_FOUND. */
  create?: boolean;
  /** Resolve with the new value as well. */
  returnValue?: boolean;
}

export interface Entry<T> {
  readonly value: T;
  readonly version: number;
  /** Milliseconds since the epoch; 0 when the entry never expires. */
  readonly expiresAt: number;
}

export type { AcceptLossResult, PatchOp, ClusterStatusView };

/** How long one node may take to give its table before the client asks the next. */
const tableRequestTimeoutMs = 1_000;

/**
 * Retries back off from 10 ms to at most 100 ms (jittered by half). A failover takes well
 * under a second, and a longer sleep would add most of itself to what the caller waits once
 * the partition is back; ten small retries a second per waiting call cost the cluster little.
 */
const retryBackoffMsMin = 10;
const retryBackoffMsMax = 100;
const redirectsMax = 16;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function badResult(op: string): StatehouseError {
  return new StatehouseError(
    ErrorCode.INTERNAL,
    `the node answered ${op} with a result of the wrong shape`,
  );
}

/** A stored value as the application wrote it; BAD_VALUE when it is not what a client wrote. */
function decodeStored(bytes: Uint8Array, key: string): unknown {
  try {
    return decodeValue(bytes);
  } catch (error) {
    throw new StatehouseError(
      ErrorCode.BAD_VALUE,
      `the value stored at ${JSON.stringify(key)} is not MessagePack as this client writes it: ` +
        (error instanceof Error ? error.message : String(error)),
    );
  }
}

function asRecord(value: unknown, op: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw badResult(op);
  return value as Record<string, unknown>;
}

export class Client {
  readonly clientId = randomUUID();
  private readonly name: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly durability: Durability;
  private readonly forward: boolean;
  private readonly seeds: string[];
  private readonly connections = new Map<string, NodeConnection>();
  private readonly router = new Router();
  private refreshing: Promise<void> | null = null;
  /** The deadline the running refresh was started with. */
  private refreshingUntil = 0;
  /** Where the next refresh starts in its list of nodes; see fetchTable(). */
  private refreshStart = 0;
  private seq = 0;
  /** Sequence numbers of writes not yet answered; the lowest is the acknowledgement mark. */
  private readonly unansweredSeqs = new Set<number>();
  private ackedBelow = 1;
  private keyBytesMax = keyBytesMaxDefault;
  private valueBytesMax = valueBytesMaxDefault;
  private closed = false;

  /** Use `connect()`, which also learns the partition table before resolving. */
  constructor(options: ClientOptions) {
    const seeds = typeof options.seeds === 'string' ? options.seeds.split(',') : [...options.seeds];
    if (seeds.length === 0)
      throw new StatehouseError(ErrorCode.BAD_REQUEST, 'seeds must name at least one host:port');
    for (const seed of seeds) parseAddress(seed);
    const timeoutMs = options.timeoutMs ?? requestTimeoutMsDefault;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new StatehouseError(
        ErrorCode.BAD_REQUEST,
        `timeoutMs must be a positive integer, got ${timeoutMs}`,
      );
    }
    const durability = options.durability ?? 'sync';
    if (durability !== 'sync' && durability !== 'async') {
      throw new StatehouseError(
        ErrorCode.BAD_REQUEST,
        `durability must be 'sync' or 'async', got ${String(durability)}`,
      );
    }
    this.seeds = seeds.map((s) => s.trim());
    this.name = options.name ?? 'statehouse-client';
    this.token = options.token;
    this.timeoutMs = timeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
    this.durability = durability;
    this.forward = options.forward === true;
  }

  /** Reads a value; null when the key is absent or expired. */
  async get<T = unknown>(key: string, options: ReadOptions = {}): Promise<T | null> {
    const entry = await this.getEntry<T>(key, options);
    return entry === null ? null : entry.value;
  }

  /** Reads a value with its version and expiry; null when absent or expired. */
  async getEntry<T = unknown>(key: string, options: ReadOptions = {}): Promise<Entry<T> | null> {
    const result = await this.call({ op: 'get', key }, options, false, options.readFrom);
    if (result === null) return null;
    const r = asRecord(result, 'get');
    if (!(r['value'] instanceof Uint8Array) || typeof r['version'] !== 'number')
      throw badResult('get');
    return {
      value: decodeStored(r['value'], key) as T,
      version: r['version'],
      expiresAt: Number(r['expiresAt'] ?? 0),
    };
  }

  /** Writes a value; resolves with its new version. */
  async set(key: string, value: unknown, options: SetOptions = {}): Promise<number> {
    const command: Command = {
      op: 'set',
      key,
      value: this.encode(value),
      ...(options.ttlMs !== undefined && { ttlMs: options.ttlMs }),
      ...(options.keepTtl !== undefined && { keepTtl: options.keepTtl }),
      ...(options.ifVersion !== undefined && { ifVersion: options.ifVersion }),
      ...(options.ifAbsent !== undefined && { ifAbsent: options.ifAbsent }),
    };
    return this.versionOf(await this.call(command, options, true), 'set');
  }

  /** Deletes a key; resolves true when it existed. */
  async delete(key: string, options: WriteOptions & { ifVersion?: number } = {}): Promise<boolean> {
    const command: Command = {
      op: 'delete',
      key,
      ...(options.ifVersion !== undefined && { ifVersion: options.ifVersion }),
    };
    const r = asRecord(await this.call(command, options, true), 'delete');
    return r['deleted'] === true;
  }

  /** Sets a key's expiry to `ttlMs` from now; resolves false when the key is absent. */
  async touch(key: string, ttlMs: number, options: WriteOptions = {}): Promise<boolean> {
    const r = asRecord(await this.call({ op: 'touch', key, ttlMs }, options, true), 'touch');
    return r['found'] === true;
  }

  /** Replaces the value only if it equals `expected` (as JSON); VERSION_MISMATCH otherwise. */
  async cas(
    key: string,
    expected: unknown,
    value: unknown,
    options: WriteOptions & { ttlMs?: number } = {},
  ): Promise<number> {
    const command: Command = {
      op: 'cas',
      key,
      expected: encodeValue(expected),
      value: this.encode(value),
      ...(options.ttlMs !== undefined && { ttlMs: options.ttlMs }),
    };
    return this.versionOf(await this.call(command, options, true), 'cas');
  }

  /** Applies field operations atomically on the primary. */
  async patch<T = unknown>(
    key: string,
    ops: readonly PatchOp[],
    options: PatchOptions = {},
  ): Promise<{ version: number; value?: T }> {
    const command: Command = {
      op: 'patch',
      key,
      ops,
      ...(options.ttlMs !== undefined && { ttlMs: options.ttlMs }),
      ...(options.ifVersion !== undefined && { ifVersion: options.ifVersion }),
      ...(options.create !== undefined && { create: options.create }),
      ...(options.returnValue !== undefined && { returnValue: options.returnValue }),
    };
    const r = asRecord(await this.call(command, options, true), 'patch');
    if (typeof r['version'] !== 'number') throw badResult('patch');
    if (r['value'] instanceof Uint8Array)
      return { version: r['version'], value: decodeStored(r['value'], key) as T };
    return { version: r['version'] };
  }

  /** Remaining time to live in ms; null when the key never expires; undefined when absent. */
  async ttl(key: string, options: ReadOptions = {}): Promise<number | null | undefined> {
    const r = asRecord(
      await this.call({ op: 'ttl', key }, options, false, options.readFrom),
      'ttl',
    );
    if (r['exists'] !== true) return undefined;
    return typeof r['ttlMs'] === 'number' ? r['ttlMs'] : null;
  }

  /** Round trip to a node; resolves with its id. */
  async ping(options: CallOptions = {}): Promise<string> {
    const deadline = Date.now() + (options.timeoutMs ?? this.timeoutMs);
    const connection = await this.anyConnection(deadline);
    const reply = await connection.send((id) => encodeRequest({ kind: 'ping', id }), deadline);
    const result = asRecord(this.unwrap(reply), 'ping');
    return String(result['nodeId']);
  }

  /**
   * The cluster's members, leader and partition summary, as one node sees it: the first
   * seed that answers, then any other node the client knows.
   */
  async clusterStatus(
    options: CallOptions & { linearizable?: boolean } = {},
  ): Promise<ClusterStatusView> {
    const deadline = Date.now() + (options.timeoutMs ?? this.timeoutMs);
    let lastError: unknown = null;
    for (const address of new Set([...this.seeds, ...this.router.addresses()])) {
      try {
        const reply = await this.connection(address).send(
          (id) =>
            encodeRequest({
              kind: 'status',
              id,
              ...(options.linearizable === true && { linearizable: true }),
            }),
          Math.min(deadline, Date.now() + 2_000),
        );
        const status = asRecord(this.unwrap(reply), 'status');
        if (!Array.isArray(status['members']) || typeof status['health'] !== 'string') {
          throw badResult('status');
        }
        return status as unknown as ClusterStatusView;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof StatehouseError
      ? lastError
      : new StatehouseError(ErrorCode.UNAVAILABLE, 'no node answered the status request');
  }

  /**
   * Asks the cluster to drain a member (by name or member id): its primaries are handed to
   * in-sync backups, its copies move to other nodes, then it leaves the cluster and its
   * process stops. Resolves with the member id once the drain is committed, not finished;
   * `clusterStatus()` shows the member's copies going to zero.
   */
  async drain(node: string, options: CallOptions = {}): Promise<string> {
    const result = await this.leaderCall(
      'drain',
      (id) => encodeRequest({ kind: 'drain', id, memberId: node }),
      options,
    );
    if (typeof result['memberId'] !== 'string') throw badResult('drain');
    return result['memberId'];
  }

  /**
   * Restarts stuck partitions empty: those whose primary and every in-sync copy are lost
   * (`status().partitions.stuck`). Their data is gone either way; until this is called they
   * answer UNAVAILABLE rather than pretend otherwise. `partitions` names them; without it,
   * every stuck partition. Partitions that are not stuck are refused, not touched.
   */
  async acceptLoss(
    partitions?: readonly number[],
    options: CallOptions = {},
  ): Promise<AcceptLossResult> {
    const result = await this.leaderCall(
      'acceptLoss',
      (id) =>
        encodeRequest({
          kind: 'acceptLoss',
          id,
          ...(partitions !== undefined && { partitions }),
        }),
      options,
    );
    if (!Array.isArray(result['accepted']) || !Array.isArray(result['refused']))
      throw badResult('acceptLoss');
    return result as unknown as AcceptLossResult;
  }

  /** Sends a control request to the nodes in turn until the control-plane leader takes it. */
  private async leaderCall(
    op: string,
    encode: (id: number) => Uint8Array,
    options: CallOptions,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + (options.timeoutMs ?? this.timeoutMs);
    let candidates = [...new Set([...this.seeds, ...this.router.addresses()])];
    let lastError: unknown = null;
    while (Date.now() < deadline && !this.closed) {
      for (const address of candidates) {
        try {
          const reply = await this.connection(address).send(encode, deadline);
          return asRecord(this.unwrap(reply), op);
        } catch (error) {
          lastError = error;
          if (!(error instanceof StatehouseError)) continue;
          if (error.code === ErrorCode.BAD_REQUEST || error.code === ErrorCode.UNAUTHORIZED) {
            throw error;
          }
          const hint = error.meta?.hint;
          if (error.code === ErrorCode.NOT_LEADER && hint !== undefined && hint !== address) {
            candidates = [hint, ...candidates.filter((c) => c !== hint)];
            break;
          }
        }
      }
      await sleep(retryBackoffMsMin * 5);
    }
    throw lastError instanceof StatehouseError
      ? lastError
      : new StatehouseError(ErrorCode.UNAVAILABLE, `no node accepted the ${op} request`);
  }

  /** The limits the cluster enforces, as learned in the handshake. */
  get limits(): { keyBytesMax: number; valueBytesMax: number; partitionCount: number } {
    return {
      keyBytesMax: this.keyBytesMax,
      valueBytesMax: this.valueBytesMax,
      partitionCount: this.router.partitionCount,
    };
  }

  /**
   * The address (`host:port`) of the node that is primary for `key`'s partition in this
   * client's cached partition table, or null when the table names none (not learned yet, or
   * the partition is between owners). No network call: the answer is as fresh as the table,
   * which the client refreshes whenever a node says it is not the primary. For display and
   * diagnostics (which node served a session); calls route themselves.
   */
  primaryOf(key: string): string | null {
    return this.router.route(key);
  }

  /** Closes every connection; calls in flight fail with CLIENT_CLOSED. */
  async close(): Promise<void> {
    this.closed = true;
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }

  /** Learns the partition table from any reachable node. Called by connect(). */
  async refreshTable(deadline = Date.now() + this.timeoutMs): Promise<void> {
    return this.refreshAsking(deadline);
  }

  /** A refresh that asks `last` (the node that just refused) after every other node. */
  private refreshAsking(deadline: number, last?: string): Promise<void> {
    const running = this.refreshing;
    if (running === null) {
      const started = this.fetchTable(deadline, last).finally(() => {
        this.refreshing = null;
      });
      this.refreshing = started;
      this.refreshingUntil = deadline;
      return started;
    }
    // A refresh already running is shared, but it runs to its own deadline (a background one
    // to the client's default): a call waits for it only until the call's own.
    const wait = deadline - Date.now();
    if (deadline >= this.refreshingUntil) return running;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new StatehouseError(ErrorCode.TIMEOUT, 'the table refresh did not end in time')),
        Math.max(0, wait),
      );
      running.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private async fetchTable(deadline: number, last?: string): Promise<void> {
    const known = [...new Set([...this.router.addresses(), ...this.seeds])];
    // The first node that answers is believed, and a node cut off from the cluster answers
    // with the table it had: so each refresh starts at the next node, and a refresh after a
    // refusal asks the refusing node last. Refresh after refresh, every node gets asked first.
    const start = this.refreshStart++ % known.length;
    const rotated = [...known.slice(start), ...known.slice(0, start)];
    const candidates =
      last === undefined || !rotated.includes(last)
        ? rotated
        : [...rotated.filter((a) => a !== last), last];
    let lastError: unknown = null;
    while (Date.now() < deadline && !this.closed) {
      for (const address of candidates) {
        try {
          const connection = this.connection(address);
          // A frozen node (SIGSTOP, a long pause) must not hold the refresh: ask each in turn.
          const reply = await connection.send(
            (id) => encodeRequest({ kind: 'table', id }),
            Math.min(deadline, Date.now() + tableRequestTimeoutMs),
          );
          const table = this.unwrap(reply);
          if (!isTable(table)) throw badResult('table');
          const hello = connection.helloResult;
          if (hello) {
            this.keyBytesMax = hello.keyBytesMax;
            this.valueBytesMax = hello.valueBytesMax;
          }
          this.router.update(table);
          return;
        } catch (error) {
          if (
            error instanceof StatehouseError &&
            (error.code === ErrorCode.UNAUTHORIZED ||
              error.code === ErrorCode.PROTOCOL_MISMATCH ||
              error.code === ErrorCode.CLIENT_CLOSED)
          ) {
            throw error;
          }
          lastError = error;
        }
      }
      await sleep(retryBackoffMsMin * 5);
    }
    const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
    throw new StatehouseError(
      ErrorCode.UNAVAILABLE,
      `no node of ${candidates.join(', ')} answered${reason}`,
      {
        cause: lastError,
      },
    );
  }

  private connection(address: string): NodeConnection {
    // A refresh still running in the background after close() must not open a connection
    // that nothing would ever close: it would keep the process alive.
    if (this.closed) throw new StatehouseError(ErrorCode.CLIENT_CLOSED, 'the client is closed');
    let connection = this.connections.get(address);
    if (connection === undefined) {
      connection = new NodeConnection({
        address,
        clientName: this.name,
        clientId: this.clientId,
        connectTimeoutMs: this.connectTimeoutMs,
        ...(this.token !== undefined && { token: this.token }),
      });
      this.connections.set(address, connection);
    }
    return connection;
  }

  private async anyConnection(deadline: number): Promise<NodeConnection> {
    if (this.router.partitionCount === 0) await this.refreshTable(deadline);
    const address = this.router.addresses()[0] ?? this.seeds[0]!;
    return this.connection(address);
  }

  private encode(value: unknown): Uint8Array {
    if (value === undefined)
      throw new StatehouseError(ErrorCode.BAD_REQUEST, 'a value must not be undefined; use delete');
    // A view into the codec's working buffer, not a copy: msgpackr never writes over bytes it
    // handed out (it moves on to a fresh buffer), and the request encoder copies them into
    // the frame anyway. One allocation and one copy fewer per write.
    const bytes = encodeValueTransient(value);
    if (bytes.length > this.valueBytesMax) {
      throw new StatehouseError(
        ErrorCode.TOO_LARGE,
        `value of ${bytes.length} bytes exceeds the limit of ${this.valueBytesMax} bytes`,
        {
          meta: { limitBytes: this.valueBytesMax },
        },
      );
    }
    return bytes;
  }

  private versionOf(result: unknown, op: string): number {
    const r = asRecord(result, op);
    if (typeof r['version'] !== 'number') throw badResult(op);
    return r['version'];
  }

  private unwrap(reply: Reply): unknown {
    if (reply.ok) return reply.result;
    throw new StatehouseError(reply.error.code, reply.error.message, {
      meta: reply.error.meta ?? {},
    });
  }

  private checkKey(key: string): void {
    if (typeof key !== 'string' || key.length === 0) {
      throw new StatehouseError(ErrorCode.BAD_REQUEST, 'a key must be a non-empty string');
    }
    if (key.length > this.keyBytesMax / 3 && utf8ByteLength(key) > this.keyBytesMax) {
      throw new StatehouseError(
        ErrorCode.TOO_LARGE,
        `key of ${utf8ByteLength(key)} bytes exceeds the limit of ${this.keyBytesMax} bytes`,
        {
          meta: { limitBytes: this.keyBytesMax },
        },
      );
    }
  }

  /** Routes, sends and retries one command until it has a definite answer or its deadline passes. */
  private async call(
    command: Command,
    options: WriteOptions,
    write: boolean,
    readFrom?: ReadFrom,
  ): Promise<unknown> {
    if (this.closed) throw new StatehouseError(ErrorCode.CLIENT_CLOSED, 'the client is closed');
    this.checkKey(command.key);
    const seq = write ? ++this.seq : undefined;
    if (seq !== undefined) this.unansweredSeqs.add(seq);
    try {
      return await this.attempt(command, options, write, readFrom, seq);
    } finally {
      if (seq !== undefined) this.settle(seq);
    }
  }

  /**
   * A write is settled once the caller has its answer, whatever it was: it will not be
   * retried under this sequence number again, so the node may forget its result.
   */
  private settle(seq: number): void {
    this.unansweredSeqs.delete(seq);
    while (this.ackedBelow <= this.seq && !this.unansweredSeqs.has(this.ackedBelow))
      this.ackedBelow++;
  }

  private async attempt(
    command: Command,
    options: WriteOptions,
    write: boolean,
    readFrom: ReadFrom | undefined,
    seq: number | undefined,
  ): Promise<unknown> {
    const deadline = Date.now() + (options.timeoutMs ?? this.timeoutMs);
    const durability = write ? (options.durability ?? this.durability) : undefined;
    let inDoubt = false;
    let attempt = 0;
    let lastError: StatehouseError | null = null;
    while (Date.now() < deadline) {
      // A call waiting between attempts (for a primary, a backoff) ends with the client.
      if (this.closed) {
        throw new StatehouseError(ErrorCode.CLIENT_CLOSED, 'the client was closed', {
          inDoubt: write && inDoubt,
        });
      }
      if (attempt > redirectsMax + 64) break;
      // Forwarding: the seeds in turn, each retry trying the next.
      const address = this.forward
        ? this.seeds[attempt % this.seeds.length]!
        : this.router.route(command.key);
      if (address === null) {
        lastError = new StatehouseError(
          ErrorCode.UNAVAILABLE,
          `the partition of ${JSON.stringify(command.key)} has no primary now`,
        );
        await this.refreshTable(deadline).catch(() => undefined);
        if (this.router.route(command.key) === null) await sleep(this.backoff(attempt++));
        continue;
      }
      const epoch = this.router.epoch;
      try {
        const reply = await this.connection(address).send(
          // Fields left undefined, and forward when false, are not sent. ackedBelow is read
          // when the request goes out, which may be after calls queued before it were answered.
          (id) =>
            encodeCommand(id, {
              command,
              epoch,
              seq,
              ackedBelow: seq === undefined ? undefined : Math.min(this.ackedBelow, seq),
              durability: durability === 'sync' ? undefined : durability,
              readFrom: readFrom === 'primary' ? undefined : readFrom,
              forward: this.forward,
            }),
          deadline,
        );
        if (reply.ok) return reply.result;
        const { code } = reply.error;
        lastError = new StatehouseError(code, reply.error.message, {
          meta: reply.error.meta ?? {},
        });
        // The primary applied the write and then lost its epoch: retrying is still safe (the
        // idempotency id), but a call that ends without a definite answer is in doubt, not
        // failed (found by the chaos run: a write reported failed was read back later).
        if (write && reply.error.meta?.inDoubt === true) inDoubt = true;
        if (code === ErrorCode.NOT_PRIMARY) {
          // Forwarded, it means the seed's table is behind (a hand-off in progress): wait.
          if (this.forward) await sleep(this.backoff(attempt++));
          else {
            attempt++;
            await this.refreshTable(deadline).catch(() => undefined);
          }
          continue;
        }
        if (code === ErrorCode.UNAVAILABLE) {
          await sleep(this.backoff(attempt++));
          // A primary cut off from the cluster refuses for as long as the cut lasts: it cannot
          // hear that its backup was promoted. Ask the others for a newer table (found by the
          // chaos run; test/client/primary-cut-off-from-cluster.test.ts). A forwarding client
          // routes by its seeds, not the table, and just tries the next seed.
          if (!this.forward && this.router.addresses().length > 1)
            await this.refreshAsking(deadline, address).catch(() => undefined);
          continue;
        }
        if (code === ErrorCode.TIMEOUT) {
          // A node that forwarded the command heard nothing back: it may have taken effect.
          if (write) inDoubt = true;
          await sleep(this.backoff(attempt++));
          continue;
        }
        if (code === ErrorCode.RETRY_EXPIRED) {
          throw new StatehouseError(code, reply.error.message, { inDoubt: true });
        }
        throw lastError;
      } catch (error) {
        if (!(error instanceof StatehouseError)) throw error;
        if (error.code === ErrorCode.CONNECTION_CLOSED || error.code === ErrorCode.TIMEOUT) {
          if (write && error.inDoubt) inDoubt = true;
          // A send cut short by the call's own deadline says nothing about the cluster; the
          // last definite answer (UNAVAILABLE, say) stays the cause the caller is shown.
          const cutShort = error.code === ErrorCode.TIMEOUT && Date.now() >= deadline;
          if (!cutShort || lastError === null) lastError = error;
          // The node may be gone for good: learn where its partitions went, then retry.
          await sleep(this.backoff(attempt++));
          if (!this.forward && this.router.addresses().length > 1)
            await this.refreshTable(deadline).catch(() => undefined);
          continue;
        }
        // A definite answer from a node settles the call (a retry carried the same
        // idempotency id). An error of the client's own (closed, overloaded) does not: an
        // earlier attempt may still have taken effect.
        if (error === lastError || error.inDoubt || !(write && inDoubt)) throw error;
        throw new StatehouseError(error.code, error.message, {
          inDoubt: true,
          meta: error.meta,
          cause: error,
        });
      }
    }
    // The node we kept asking may be frozen while the cluster moved on: learn the table
    // again, so that the next call goes where the partition is now.
    void this.refreshTable().catch(() => undefined);
    const why = lastError ? ` (last: ${lastError.code}: ${lastError.message})` : '';
    throw new StatehouseError(
      ErrorCode.TIMEOUT,
      `${command.op} ${JSON.stringify(command.key)} got no definite answer in time${why}`,
      {
        inDoubt: write && inDoubt,
        cause: lastError ?? undefined,
      },
    );
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(retryBackoffMsMax, retryBackoffMsMin * 2 ** Math.min(attempt, 8));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

/**
 * Connects to a cluster: resolves once a node answered and the partition table is known, or
 * fails once `timeoutMs` has passed (each connection attempt within it bounded by
 * `connectTimeoutMs`).
 */
export async function connect(options: ClientOptions): Promise<Client> {
  const client = new Client(options);
  try {
    await client.refreshTable(Date.now() + (options.timeoutMs ?? requestTimeoutMsDefault));
  } catch (error) {
    await client.close();
    throw error;
  }
  return client;
}
