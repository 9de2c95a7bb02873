/**
 * The one catalog of Statehouse errors.
 *
 * Every failure a caller can see has a stable `code`. The same codes travel on the wire
 * (protocol/) and are thrown by the client as `StatehouseError`, so an application can branch
 * on `err.code` without parsing messages. docs/errors.md documents every code; a test keeps
 * the two in step.
 *
 * `inDoubt` is the one flag that matters for writes: when it is true the caller cannot know
 * whether the write took effect (a timeout, a connection lost after sending). Retrying with
 * the same idempotency id settles it; retrying with a new one may apply the write twice.
 */

export const ErrorCode = {
  /** The request is malformed: a wrong type, a missing field, an unknown operation. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** A key, value or frame is larger than the configured limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** The key does not exist and the operation needs it to. */
  NOT_FOUND: 'NOT_FOUND',
  /** A conditional write's precondition failed (ifVersion, ifAbsent, cas). */
  VERSION_MISMATCH: 'VERSION_MISMATCH',
  /** The node's memory limit is reached; the write was refused and nothing changed. */
  OUT_OF_MEMORY: 'OUT_OF_MEMORY',
  /** This node is not the primary of the key's partition; refresh the table and retry. */
  NOT_PRIMARY: 'NOT_PRIMARY',
  /** The partition or node cannot serve now (no primary, shutting down, too few in sync). */
  UNAVAILABLE: 'UNAVAILABLE',
  /** No answer came in time. For a write, `inDoubt` is true. */
  TIMEOUT: 'TIMEOUT',
  /** The credentials in the handshake are missing or wrong. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** The peer speaks a protocol version this side does not. */
  PROTOCOL_MISMATCH: 'PROTOCOL_MISMATCH',
  /** The connection closed before an answer came. For a write, `inDoubt` is true. */
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  /** A retry came after the node stopped remembering that request's result. */
  RETRY_EXPIRED: 'RETRY_EXPIRED',
  /** The client was closed by the application. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** Too many requests are waiting; the request was not sent. */
  OVERLOADED: 'OVERLOADED',
  /** This node does not lead the control plane; `meta.hint` is the leader's address when known. */
  NOT_LEADER: 'NOT_LEADER',
  /** A node of another cluster tried to join or talk to this one. */
  CLUSTER_MISMATCH: 'CLUSTER_MISMATCH',
  /** A live member already uses this node name. */
  NODE_ID_IN_USE: 'NODE_ID_IN_USE',
  /** Another process holds the node's data dir. */
  DATA_DIR_LOCKED: 'DATA_DIR_LOCKED',
  /** The node's data dir is damaged beyond a torn last write; an operator must decide. */
  DATA_DIR_CORRUPT: 'DATA_DIR_CORRUPT',
  /**
   * A session store's save was refused because its request no longer held the session's
   * lock (`lock: true`): the lock expired or was taken. Nothing was written.
   */
  LOCK_LOST: 'LOCK_LOST',
  /**
   * A stored value the client cannot decode: not MessagePack as Statehouse's clients write
   * it (another program stored raw bytes under the key). Nothing was changed.
   */
  BAD_VALUE: 'BAD_VALUE',
  /** A bug: the node failed in a way it did not expect. The request did not take effect. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const codes = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && codes.has(value);
}

/** Extra facts an error carries, typed per code where the caller acts on them. */
export interface ErrorMeta {
  /** NOT_PRIMARY: the partition asked for. */
  partition?: number;
  /** NOT_PRIMARY: the partition table epoch the node knows. */
  epoch?: number;
  /** NOT_PRIMARY: the address of the node this one believes is primary. */
  hint?: string;
  /** VERSION_MISMATCH: the key's current version, 0 when the key is absent. */
  currentVersion?: number;
  /** TOO_LARGE: the limit in bytes that was exceeded. */
  limitBytes?: number;
  /**
   * NOT_PRIMARY, UNAVAILABLE: the write had been applied by the primary and was waiting for its
   * backups when the partition changed epoch; it may or may not survive. A client that ends the
   * call without a definite answer must report it in doubt, not failed.
   */
  inDoubt?: boolean;
}

export class StatehouseError extends Error {
  override readonly name = 'StatehouseError';
  readonly code: ErrorCode;
  /** True when a write may or may not have taken effect. */
  readonly inDoubt: boolean;
  readonly meta: ErrorMeta;

  constructor(
    code: ErrorCode,
    message: string,
    options: { inDoubt?: boolean; meta?: ErrorMeta; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.inDoubt = options.inDoubt ?? false;
    this.meta = options.meta ?? {};
  }
}
