/**
 * Every limit and default in one place, named with their unit last (TigerBeetle's
 * constants.zig). A limit bounds something that grows; each says why it is the number it is.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Keys are identifiers (session ids, user ids), not payloads: 1 KiB is generous. */
export const keyBytesMaxDefault = 1 * KiB;

/** A session is small; a 1 MiB value is almost always a bug in the application. */
export const valueBytesMaxDefault = 1 * MiB;

/** The largest value any configuration may allow: a node keeps whole values in memory. */
export const valueBytesMaxCeiling = 64 * MiB;

/**
 * A frame holds one request: a key, at most two values (a cas carries the expected value and
 * the new one) and at most a few hundred bytes of fields. 64 KiB of slack covers the fields
 * and a patch's operations.
 */
export function frameBytesMaxFor(keyBytesMax: number, valueBytesMax: number): number {
  return keyBytesMax + 2 * valueBytesMax + 64 * KiB;
}

/**
 * A frame on a peer link (replication, Raft, forwarded commands), which arrives on the client
 * port: never below the client limit of the default key and value sizes. Replication frames
 * are bounded by their own numbers, not by valueBytesMax (a snapshot chunk and an append batch
 * each about 1 MiB, plus the item that crosses the bound), and were sized against that
 * default; a node with a lowered valueBytesMax refused them, and its copies never caught up.
 */
export function peerFrameBytesMaxFor(keyBytesMax: number, valueBytesMax: number): number {
  return frameBytesMaxFor(
    Math.max(keyBytesMax, keyBytesMaxDefault),
    Math.max(valueBytesMax, valueBytesMaxDefault),
  );
}

/**
 * Fixed at cluster creation: enough partitions that each node of a 64-node cluster still
 * holds several, few enough that per-partition state (epochs, sequence numbers) stays small.
 */
export const partitionCountDefault = 256;
export const partitionCountMax = 16_384;

/** Operations in one patch: a session save touches a few fields, not thousands. */
export const patchOpsMax = 1_000;

/** Depth of a dotted patch path; deeper documents are legal but not addressable by patch. */
export const patchPathDepthMax = 32;

/**
 * Idempotency: results a partition remembers per client. A client retries only requests it
 * has in flight, and it caps those (clientInFlightMax), so the window must exceed that cap.
 */
export const idempotencyResultsPerClientMax = 4_096;

/** How long a partition remembers a client that sent nothing since; retries come sooner. */
export const idempotencyClientIdleMs = 5 * 60_000;

/** Requests one client keeps in flight at most; more wait in its queue. */
export const clientInFlightMax = 4_000;

/** Requests a client lets wait for a connection before refusing with OVERLOADED. */
export const clientQueueMax = 100_000;

/** Default per-request timeout in the client: long enough for a failover, short for a user. */
export const requestTimeoutMsDefault = 5_000;

/** Entries reclaimed per expiry sweep, so one sweep never stalls the event loop. */
export const expirySweepEntriesMax = 1_000;

/** How often a node sweeps expired entries. Lazy expiry on access covers the gap. */
export const expirySweepIntervalMs = 100;

/** A handshake must arrive promptly; a silent socket holds a file descriptor. */
export const handshakeTimeoutMsDefault = 5_000;

/**
 * Reply bytes one connection may have queued before the node stops taking its requests until
 * the socket drains: a pipelined read of small requests for large values cannot make a node
 * buffer more than this for a client that does not read.
 */
export const repliesQueuedBytesMax = 16 * MiB;

/**
 * Commands of one connection a node has forwarded to their primaries (`forward: true`) and
 * not yet answered; past this the node takes no more of its requests until answers come back.
 * Their replies arrive later, so the bytes above cannot see them coming: this caps what they
 * can add at this many replies (64 MiB at the default 1 MiB value limit). 64 in flight still
 * lets one forwarding connection do tens of thousands of commands a second on a LAN.
 */
export const forwardsPendingMax = 64;

/**
 * How long a connection whose client ended its side stays open for the answers still due
 * (sync writes, forwarded commands). Each has a deadline of its own, far shorter; this one
 * only keeps a missed answer from holding the socket for good.
 */
export const halfOpenAnswersMs = 30_000;
