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

export const Op = {
  hello: 1,
  ping: 2,
  /** The partition table: which node is primary for which partition. */
  table: 3,
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
  readonly epoch?: number;
  readonly readFrom?: ReadFrom;
  readonly durability?: Durability;
}

export type Request = HelloRequest | PingRequest | TableRequest | CommandRequest;

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
