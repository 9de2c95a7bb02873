/**
 * Primary leases: why a deposed primary never answers from its old copy.
 *
 * The problem
 * -----------
 * The control plane moves a partition's primary role by committing a new epoch (failover,
 * hand-off on a drain, rebalancing). Every node learns it by applying the Raft log, each at
 * its own moment. A primary that is paused (SIGSTOP, a long GC), cut off, or merely slow to
 * apply still believes it leads its old epoch. Its sync writes cannot complete (the backups
 * refuse its epoch), but without more it would answer reads, and accept async writes, from a
 * copy that the new primary has already moved past. That is a stale read.
 *
 * The rule (PacificA's lease, granted by the copies)
 * --------------------------------------------------
 * A primary serves a partition only while every copy that could be promoted over it (the
 * in-sync set, and backups it reported caught up in this epoch: PartitionReplica.leasePeers)
 * has vouched for it recently. A new primary comes only from among those copies, so it is
 * one of the nodes the old primary needed a grant from. Node A proves it is alive to node B
 * with a ping carrying A's clock reading `sentAt`; B echoes it. When the echo returns, A holds a
 * grant from B until `sentAt + leaseMs` on A's own clock: B received the ping after A sent
 * it, so the grant ends no later, in real time, than `leaseMs` after B last heard A (up to
 * clock-rate drift, which `grantWaitMs` covers).
 *
 * A node that becomes primary waits, before it serves, until no other node can still hold a
 * grant from it that predates the change: for every node it echoed, either that node's
 * latest ping says it has applied the new table (so it knows it is no longer primary), or
 * `grantWaitMs` has passed since the last echo it sent before it applied the new table.
 * Echoes sent after do not count (see the gap below): the peer counts them only once it has
 * applied that table itself. Without this distinction, a node that can send but not hear (a
 * one-way partition) pinged the new primary forever, each ping was echoed, and the new
 * primary waited forever for a grant that could no longer reach anyone (found by the chaos
 * run). On a failover the old primary has been silent
 * for the failure timeout, longer than the lease, so there is nothing to wait for; on a
 * planned hand-off the old primary applies the change within a heartbeat and says so in its
 * next ping, so the pause is about one tick, for that partition only.
 *
 * One gap remains: an echo that B sends *after* it became primary must not renew A's old
 * role. So pings and echoes carry the sender's applied table version, and A counts an echo
 * only if A has applied at least the version B had when it echoed. If B had applied the
 * change, so has A, and A no longer treats itself as primary.
 *
 * Grants are per node pair, not per partition: one ping per peer per tick covers every
 * partition the two share. Only nodes that share a partition are pinged (and, for a while
 * after they stop sharing one, so that the news of an applied change still reaches them).
 *
 * The echo rides on the next ping. B does not answer A's ping at once: it remembers the
 * newest ping it has not echoed, and its own next ping to A (at most a tick later) carries
 * that ping's `sentAt` as `echo`, so two nodes exchange one message each per tick instead of
 * two (on an idle three-node cluster, lease traffic was most of what woke the nodes). A node
 * that B does not ping gets a plain echo at B's next tick. Nothing above changes: B records
 * an echo when it sends it, at the table version it has then applied, which is the version
 * the message carries; A's grant still ends `leaseMs` after the ping it answers was sent, so
 * the later echo only leaves A less of the grant to use (leaseMs is eight ticks).
 *
 * This module is pure: the data plane feeds it `now` (a monotonic clock reading) and sends
 * what it returns.
 */
import type { MemberId } from './partition-replica.js';

export type LeaseMessage =
  | {
      readonly type: 'leasePing';
      /** The pinger's clock when it sent the ping; echoed unchanged. */
      readonly sentAt: number;
      /** The table version the pinger has applied. */
      readonly version: number;
      /**
       * The `sentAt` of the receiver's newest ping not echoed yet: this ping is also that
       * echo, sent at `version`.
       */
      readonly echo?: number;
    }
  | {
      readonly type: 'leaseEcho';
      /** The `sentAt` of the ping this answers. */
      readonly sentAt: number;
      /** The table version the echoing node had applied when it echoed. */
      readonly version: number;
    };

export interface LeaseOptions {
  /** How long one echo lets a primary serve, in ms of its own clock. */
  readonly leaseMs: number;
  /**
   * How long a new primary waits after its last echo to a node that has not confirmed the
   * change. Longer than leaseMs by the clock-rate drift we allow between two nodes.
   */
  readonly grantWaitMs: number;
}

/** Clock rates of two nodes may differ by this factor; NTP keeps real ones far closer. */
export const clockDriftFactor = 1.2;

export function leaseOptions(leaseMs: number): LeaseOptions {
  return { leaseMs, grantWaitMs: Math.ceil(leaseMs * clockDriftFactor) };
}

interface Given {
  /**
   * When this node last echoed the peer's ping, by the table version this node had applied
   * at the time. Entries older than a grant are dropped: only recent ones can hold anyone.
   */
  echoedAt: Map<number, number>;
  /** The highest table version the peer's pings reported. */
  version: number;
}

export class LeaseTable {
  /** Grants this node holds: peer -> the end of the grant on this node's clock. */
  private readonly heldUntil = new Map<MemberId, number>();
  /** Grants this node gave. */
  private readonly given = new Map<MemberId, Given>();
  /** The peers this node shares a partition with now. */
  private current: ReadonlySet<MemberId> = new Set();
  /** Since when each of `current` has been one (the start of its silence, if it never echoed). */
  private readonly peerSince = new Map<MemberId, number>();
  /** Peers that stopped sharing one, pinged until then so they learn what this node applied. */
  private readonly lingerUntil = new Map<MemberId, number>();
  /** Per peer, the `sentAt` of its newest ping this node has not echoed yet. */
  private readonly toEcho = new Map<MemberId, number>();

  constructor(readonly options: LeaseOptions) {}

  /**
   * The peers this node shares partitions with now. One that no longer does is still pinged
   * for two leases, so that it hears which table this node applied (a hand-off settles on it).
   */
  setPeers(peers: ReadonlySet<MemberId>, now: number): void {
    const until = now + 2 * this.options.leaseMs;
    for (const peer of this.current) {
      if (peers.has(peer)) continue;
      this.lingerUntil.set(peer, until);
      this.peerSince.delete(peer);
    }
    for (const peer of peers) {
      this.lingerUntil.delete(peer);
      if (!this.peerSince.has(peer)) this.peerSince.set(peer, now);
    }
    this.current = peers;
  }

  /**
   * How long `peer` has not vouched for this node: since the ping its latest echo answered
   * was sent, or since it became a peer if it never echoed one. A copy that is silent this
   * way is lost to its primary as surely as one that stopped acknowledging writes.
   */
  silentFor(peer: MemberId, now: number): number {
    const held = this.heldUntil.get(peer);
    const since = Math.max(
      held === undefined ? -Infinity : held - this.options.leaseMs,
      this.peerSince.get(peer) ?? now,
    );
    return now - since;
  }

  /**
   * One ping per peer, each carrying the echo this node owes that peer, and a plain echo for
   * every other node whose ping it has not answered; called once per tick.
   */
  pings(version: number, now: number): { to: MemberId; message: LeaseMessage }[] {
    const out: { to: MemberId; message: LeaseMessage }[] = [];
    const ping = (to: MemberId): void => {
      const echo = this.toEcho.get(to);
      if (echo === undefined) {
        out.push({ to, message: { type: 'leasePing', sentAt: now, version } });
        return;
      }
      this.toEcho.delete(to);
      this.echoed(to, version, now);
      out.push({ to, message: { type: 'leasePing', sentAt: now, version, echo } });
    };
    for (const peer of this.current) ping(peer);
    for (const [peer, until] of this.lingerUntil) {
      if (until <= now) this.lingerUntil.delete(peer);
      else ping(peer);
    }
    for (const [to, sentAt] of this.toEcho) {
      this.echoed(to, version, now);
      out.push({ to, message: { type: 'leaseEcho', sentAt, version } });
    }
    this.toEcho.clear();
    return out;
  }

  /** Records that this node vouches for `to` now, having applied table `version`. */
  private echoed(to: MemberId, version: number, now: number): void {
    const given = this.given.get(to);
    if (given === undefined) return;
    given.echoedAt.set(version, now);
    for (const [v, at] of given.echoedAt) {
      if (at + this.options.grantWaitMs <= now) given.echoedAt.delete(v);
    }
  }

  /** A lease message from `from`; the echo it asks for leaves with the next `pings`. */
  receive(from: MemberId, message: LeaseMessage, version: number, now: number): void {
    if (message.type === 'leasePing') {
      const given = this.given.get(from);
      if (given === undefined)
        this.given.set(from, { echoedAt: new Map(), version: message.version });
      else given.version = Math.max(given.version, message.version);
      // The newest ping is the one to echo: its grant lasts longest.
      this.toEcho.set(from, Math.max(this.toEcho.get(from) ?? -Infinity, message.sentAt));
      if (message.echo !== undefined)
        this.granted(from, message.echo, message.version, version, now);
      return;
    }
    this.granted(from, message.sentAt, message.version, version, now);
  }

  /** `from` echoed this node's ping sent at `sentAt`, having applied table `theirs`. */
  private granted(
    from: MemberId,
    sentAt: number,
    theirs: number,
    version: number,
    now: number,
  ): void {
    // An echo of a ping from the future is forged or from a previous run of this node.
    if (sentAt > now || version < theirs) return;
    const until = sentAt + this.options.leaseMs;
    if (until > (this.heldUntil.get(from) ?? -Infinity)) this.heldUntil.set(from, until);
  }

  /** Whether every one of `peers` vouches for this node now. */
  heldFromAll(peers: readonly MemberId[], now: number): boolean {
    for (const peer of peers) {
      if ((this.heldUntil.get(peer) ?? -Infinity) <= now) return false;
    }
    return true;
  }

  /**
   * Whether no other node can still hold a grant from this one that it got before it
   * applied table `version`: each has confirmed `version`, or its grant has run out.
   */
  settled(version: number, now: number): boolean {
    for (const given of this.given.values()) {
      if (given.version >= version) continue;
      for (const [echoedWith, at] of given.echoedAt) {
        if (echoedWith < version && at + this.options.grantWaitMs > now) return false;
      }
    }
    return true;
  }

  /** Drops what is known of a member that left the cluster. */
  forget(member: MemberId): void {
    this.heldUntil.delete(member);
    this.peerSince.delete(member);
    this.given.delete(member);
    this.lingerUntil.delete(member);
    this.toEcho.delete(member);
  }
}
