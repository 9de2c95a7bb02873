/**
 * The messages of the client protocol, version 1.
 *
 * A request frame's body is the MessagePack array `[op, id, body]`: `op` a small integer
 * (below), `id` an unsigned 32-bit request id chosen by the client and unique among its
 * requests in flight on that connection, and `body` a map of named fields. Replies are
 * `[id, status, body]` with status 0 (body is the result) or 1 (body is `{ code, message,
 * meta }`). Replies to pipelined requests may come in any order; the id pairs them.
 *
 * The first request on a connection must be `hello`, carrying the protocol version, the
 * client's name and id, and a token when the node requires one. A node answers a version it
 * does not speak with PROTOCOL_MISMATCH and closes; wrong credentials get UNAUTHORIZED and
 * a close. Every keyed request may carry the partition-table `epoch` the client routed by,
 * so a node can tell a client with a stale table from one it should serve.
 *
 * Values travel as MessagePack `bin`, already encoded by the client (core/value-codec.ts):
 * a node stores and returns those bytes without decoding them.
 */
import type { Command, EntryView, ExpiresAt, PatchOp } from '../store/types.js';
import type { ErrorCode, ErrorMeta } from '../core/errors.js';

export const protocolVersion = 1;

/**
 * The node-to-node protocol, checked by `peerHello`. Version 2: the replication stream in
 * its compact form (replication-messages.ts). Version 3: heartbeats carry the leader grant
 * (`granted`). A node of another version is refused with PROTOCOL_MISMATCH at the hello
 * rather than left to drop every message it is sent.
 */
export const peerProtocolVersion = 3;

export const Op = {
  hello: 1,
  ping: 2,
  /** The partition table: which node is primary for which partition. */
  table: 3,
  /** A node introducing itself to a peer: the first request of a node-to-node connection. */
  peerHello: 4,
  /** The cluster's members, leader and partition summary, for `statehouse status`. */
  status: 5,
  /** A Raft message between nodes; one-way, never answered. */
  raft: 20,
  /** A node asks to join the cluster. */
  join: 21,
  /** A replication message between the replicas of a partition; one-way. */
  repl: 22,
  /** A node tells the control-plane leader which backups caught up or lag; one-way. */
  report: 23,
  /** Ask the control-plane leader to empty a member and let it leave (`statehouse drain`). */
  drain: 24,
  /** Restart stuck partitions empty, accepting that their data is gone (`statehouse accept-loss`). */
  acceptLoss: 27,
  /** A node passes a client's command on to the partition's primary; one-way (peer links). */
  forward: 25,
  /** The primary's reply to a forwarded command, back to the node that forwarded it; one-way. */
  forwarded: 26,
  get: 10,
  set: 11,
  delete: 12,
  touch: 13,
  cas: 14,
  patch: 15,
  ttl: 16,
} as const;
export type OpName = keyof typeof Op;
export type OpCode = (typeof Op)[OpName];

export const opNames: ReadonlyMap<number, OpName> = new Map(
  Object.entries(Op).map(([name, code]) => [code, name as OpName]),
);

export const ReplyStatus = { ok: 0, error: 1 } as const;

/** Where a read may be served: `primary` is linearizable, `any` may be stale. */
export type ReadFrom = 'primary' | 'any';
/** When a write is answered: `sync` once every in-sync replica applied it, `async` once the primary did. */
export type Durability = 'sync' | 'async';

export interface HelloRequest {
  readonly kind: 'hello';
  readonly id: number;
  readonly protocol: number;
  readonly client: string;
  readonly clientId: string;
  readonly token?: string;
}

export interface PingRequest {
  readonly kind: 'ping';
  readonly id: number;
}

export interface TableRequest {
  readonly kind: 'table';
  readonly id: number;
}

export interface CommandRequest {
  readonly kind: 'command';
  readonly id: number;
  readonly command: Command;
  /** The client's sequence number for this write: with its client id, the idempotency id. */
  readonly seq?: number;
  /** Every write of this client below this sequence number has been answered. */
  readonly ackedBelow?: number;
  readonly epoch?: number;
  readonly readFrom?: ReadFrom;
  readonly durability?: Durability;
  /**
   * A node that is not the partition's primary passes the request on to the primary (one
   * hop) instead of answering NOT_PRIMARY: for a client that reaches only some nodes.
   */
  readonly forward?: boolean;
}

export interface PeerHelloRequest {
  readonly kind: 'peerHello';
  readonly id: number;
  readonly protocol: number;
  /** The sender's member id (`name~incarnation`). */
  readonly memberId: string;
  /** The address the sender listens on, so the receiver can dial back. */
  readonly address: string;
  /** The sender's cluster, or null when it has not joined one yet. */
  readonly clusterId: string | null;
  readonly token?: string;
}

export interface StatusRequest {
  readonly kind: 'status';
  readonly id: number;
  /** Confirm with the control plane's quorum first (Raft read index) instead of answering locally. */
  readonly linearizable?: boolean;
}

export interface RaftRequest {
  readonly kind: 'raft';
  readonly id: number;
  /** Validated by protocol/raft-messages.ts before it reaches Raft. */
  readonly message: unknown;
}

export interface ReplRequest {
  readonly kind: 'repl';
  readonly id: number;
  /** Validated by protocol/replication-messages.ts before it reaches a replica. */
  readonly message: unknown;
}

export interface ReportRequest {
  readonly kind: 'report';
  readonly id: number;
  /** `{ caughtUp, lagging }`, each a list of `{ partition, node, epoch }`; validated on receipt. */
  readonly report: unknown;
}

/**
 * A client's command passed on by the node it reached to the partition's primary. `request`
 * is the command request as the client's protocol encodes it (its id is the forwarder's
 * `ref`), validated by the receiver exactly as a client's; `clientId` keeps the caller's
 * idempotency id, so a forwarded retry is answered, not applied twice.
 */
export interface ForwardRequest {
  readonly kind: 'forward';
  readonly id: number;
  readonly clientId: string;
  readonly request: Uint8Array;
}

/** The primary's reply to a forwarded command: an encoded reply whose id is the `ref`. */
export interface ForwardedRequest {
  readonly kind: 'forwarded';
  readonly id: number;
  readonly reply: Uint8Array;
}

export interface JoinRequest {
  readonly kind: 'join';
  readonly id: number;
  readonly name: string;
  readonly memberId: string;
  readonly address: string;
  readonly zone?: string;
  /** The cluster the node belonged to before (from its data dir), or null for a new node. */
  readonly clusterId: string | null;
}

/** Drain `memberId`, or the node that receives the request when it is absent. */
export interface DrainRequest {
  readonly kind: 'drain';
  readonly id: number;
  readonly memberId?: string;
}

/**
 * Ask the control-plane leader to restart stuck partitions (primary and every in-sync copy
 * lost) empty: `partitions`, or every stuck partition when absent.
 */
export interface AcceptLossRequest {
  readonly kind: 'acceptLoss';
  readonly id: number;
  readonly partitions?: readonly number[];
}

export interface AcceptLossResult {
  /** Partitions restarted empty, with the member now their primary. */
  readonly accepted: readonly { readonly partition: number; readonly primary: string }[];
  /** Partitions named but not restarted, and why (not stuck, no member to take it). */
  readonly refused: readonly { readonly partition: number; readonly reason: string }[];
}

export interface DrainResult {
  /** The member that is now draining. */
  readonly memberId: string;
}

export type Request =
  | AcceptLossRequest
  | DrainRequest
  | HelloRequest
  | PingRequest
  | TableRequest
  | CommandRequest
  | PeerHelloRequest
  | StatusRequest
  | RaftRequest
  | ReplRequest
  | ReportRequest
  | ForwardRequest
  | ForwardedRequest
  | JoinRequest;

export interface JoinResult {
  readonly clusterId: string;
  readonly leaderId: string;
  readonly leaderAddress: string;
  /**
   * For a member that resumed from its data dir: the log index at which the leader dropped
   * the copies it held before (a `lostCopies` entry). It acts on no table older than that.
   */
  readonly resetIndex?: number;
}

export interface HelloResult {
  readonly protocol: number;
  readonly nodeId: string;
  readonly partitionCount: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly epoch: number;
}

export interface PingResult {
  readonly nodeId: string;
}

/** The partition table as a client needs it: for each partition, the primary's address. */
export interface TableResult {
  readonly epoch: number;
  readonly partitionCount: number;
  /** Distinct node addresses, `host:port`. */
  readonly nodes: readonly { readonly id: string; readonly address: string }[];
  /** For each partition, an index into `nodes`, or -1 when it has no primary now. */
  readonly primaries: readonly number[];
  /** The cluster's id; absent while the node has not joined one. */
  readonly clusterId?: string;
}

export type GetResult = EntryView | null;

export type WireResult =
  | HelloResult
  | PingResult
  | TableResult
  | GetResult
  | { readonly version: number; readonly value?: Uint8Array }
  | { readonly deleted: boolean }
  | { readonly found: boolean; readonly expiresAt: ExpiresAt }
  | { readonly exists: boolean; readonly ttlMs: number | null };

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly meta?: ErrorMeta;
}

export type { PatchOp };

/** The answer to `status`: what `statehouse status` prints. */
export interface ClusterStatusView {
  readonly clusterId: string | null;
  /** The member id of the node that answered. */
  readonly self: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly settings: { readonly partitionCount: number; readonly replicationFactor: number } | null;
  readonly tableVersion: number;
  readonly members: readonly {
    readonly id: string;
    readonly name: string;
    readonly address: string;
    readonly zone?: string;
    readonly state: 'active' | 'joining' | 'draining' | 'dead';
    readonly role: 'voter' | 'learner' | 'none';
    readonly primaries: number;
    readonly copies: number;
    readonly catchingUp: number;
  }[];
  readonly partitions: {
    readonly total: number;
    readonly withoutPrimary: number;
    readonly underReplicated: number;
    /** Partitions whose primary and every in-sync copy are lost: see `accept-loss`. */
    readonly stuck: readonly number[];
  };
  readonly health: 'ok' | 'degraded' | 'unavailable';
}
