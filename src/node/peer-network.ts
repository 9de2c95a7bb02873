/**
 * Node-to-node links: Raft, replication, reports and forwarded commands.
 *
 * Each node sends only on connections it dialled itself, and receives only on connections
 * other nodes dialled to it (which arrive through the node's one listening port, introduced
 * by a `peerHello`). One direction per connection keeps the bookkeeping trivial: a link is
 * owned by its sender, and a receiver never has to guess which of two sockets to answer on.
 * The hello carries the dialler's address, so a node that has just joined, and knows nobody
 * yet, can answer the leader that called it.
 *
 * Raft tolerates lost messages, so a link never blocks its caller: while it is connecting,
 * messages queue up to a bound and the oldest are dropped beyond it; when it fails, what it
 * held is dropped and it dials again after a backoff.
 *
 * A dial that is refused (nothing listens at the peer's address: its process is gone) is
 * reported, so that the control plane can act on a killed node within a few ticks instead
 * of a failure timeout (ControlPlane.peerRefused). A paused or cut-off process is not
 * refused; its connection hangs, and only its silence tells.
 *
 * One write per peer per turn of the event loop. A send only queues; the links with something
 * queued are written out together by `flush()`, which the runtime calls at the end of the
 * turn, after the data plane has added that turn's appends. So a turn's acks, appends, lease
 * pings and Raft messages for one peer leave as one frame batch in one system call (on this
 * project's VM a loopback write costs 10-30 µs of CPU, most of it the receiver's TCP
 * processing done in the sender's context), and an append leaves in the turn its writes
 * arrived rather than one loop iteration later.
 */
import { connect, type Socket } from 'node:net';
import {
  FrameDecoder,
  FrameWriter,
  decodeReply,
  encodeRequest,
  frameBatch,
  isBadMessage,
  peerProtocolVersion,
  type ForwardRequest,
} from '../protocol/index.js';
import { parseAddress } from '../core/address.js';
import { toWire, type PeerDataMessage } from '../protocol/replication-messages.js';
import type { Message } from '../raft/index.js';
import type { Logger } from './logger.js';

/** Messages held for a peer that is not connected; Raft resends what matters. */
const queuedMessagesMax = 1_024;
/**
 * Forwarded commands and their replies (client data relayed between nodes, up to a value
 * each) leave only while less than this is waiting in the socket, so what a node must say in
 * time (Raft, leases, the replication stream) never queues behind megabytes of them: a client
 * pipelining forwarded reads of 1 MB values made primaries lose their leases.
 */
const bulkWritableBytesMax = 1024 * 1024;
/**
 * What forwarded traffic may wait for one peer. Far above a burst a healthy peer reads (a
 * primary answering every forward of its connections in one turn: 64 per client connection),
 * it bounds what a peer that stopped reading, while its link stays up, can make a node hold:
 * forwards given up on and sent again pile up. Beyond it the oldest go (their forwarders
 * have answered TIMEOUT, or will).
 */
const bulkQueuedBytesMax = 256 * 1024 * 1024;
const bulkQueuedMessagesMax = 16_384;
const redialBackoffMsMin = 50;
const redialBackoffMsMax = 1_000;

export interface PeerIdentity {
  readonly memberId: string;
  readonly address: string;
  readonly clusterId: () => string | null;
  readonly token?: string;
  /** Dial peers from this local address (NodeOptions.localAddress). */
  readonly localAddress?: string;
}

/** Called with the address that refused a connection. */
type OnRefused = (address: string) => void;

class PeerLink {
  private socket: Socket | null = null;
  private ready = false;
  private queue: Uint8Array[] = [];
  /** Forwarded commands and replies: see bulkWritableBytesMax. */
  private bulk: Uint8Array[] = [];
  private bulkBytes = 0;
  private readonly writer = new FrameWriter();
  private failures = 0;
  private retryAt = 0;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly identity: PeerIdentity,
    private readonly logger: Logger,
    private readonly onRefused: OnRefused,
    /** Tells the network this link has something to write at the end of the turn. */
    private readonly markDirty: (link: PeerLink) => void,
  ) {}

  send(body: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(body);
    if (this.queue.length > queuedMessagesMax) this.queue.shift();
    this.wake();
  }

  /**
   * Like `send`, for forwarded commands and replies, which give way to everything else. While
   * the link is up, the oldest go only beyond bulkQueuedBytesMax or bulkQueuedMessagesMax
   * (a reply dropped is a client's TIMEOUT); while it is down, beyond queuedMessagesMax, as
   * other messages do.
   */
  sendBulk(body: Uint8Array): void {
    if (this.closed) return;
    this.bulk.push(body);
    this.bulkBytes += body.length;
    const messagesMax = this.ready ? bulkQueuedMessagesMax : queuedMessagesMax;
    let dropped = 0;
    while (
      this.bulk.length - dropped > messagesMax ||
      (this.bulkBytes > bulkQueuedBytesMax && this.bulk.length - dropped > 1)
    ) {
      this.bulkBytes -= this.bulk[dropped++]!.length;
    }
    if (dropped > 0) this.bulk.splice(0, dropped);
    this.wake();
  }

  private wake(): void {
    if (this.ready) this.markDirty(this);
    else if (this.socket === null && Date.now() >= this.retryAt) this.dial();
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
    this.dropQueued();
  }

  private dropQueued(): void {
    this.queue = [];
    this.bulk = [];
    this.bulkBytes = 0;
  }

  /**
   * Writes what is queued, in one system call unless forwarded traffic waits: everything
   * else, then forwarded traffic while the socket holds less than bulkWritableBytesMax; the
   * rest of it goes on 'drain'. Nothing while not connected.
   */
  flush(): void {
    const socket = this.socket;
    if (!this.ready || socket === null) return;
    let urgent = this.queue.length > 0;
    while (urgent || (this.bulk.length > 0 && socket.writableLength < bulkWritableBytesMax)) {
      const out = urgent ? this.queue : [];
      let room = bulkWritableBytesMax - socket.writableLength;
      let taken = 0;
      while (taken < this.bulk.length && room > 0) {
        const body = this.bulk[taken++]!;
        room -= body.length;
        this.bulkBytes -= body.length;
        out.push(body);
      }
      if (taken > 0) this.bulk.splice(0, taken);
      if (out.length === 0) return;
      const batch = this.writer.batch(out);
      out.length = 0;
      socket.write(batch);
      this.writer.written(socket.writableLength === 0);
      urgent = false;
    }
  }

  private dial(): void {
    let host: string;
    let port: number;
    try {
      ({ host, port } = parseAddress(this.address));
    } catch {
      this.logger.warn({ peer: this.address }, 'peer address is not host:port');
      this.closed = true;
      return;
    }
    const socket = connect({
      host,
      port,
      noDelay: true,
      ...(this.identity.localAddress !== undefined && {
        localAddress: this.identity.localAddress,
      }),
    });
    this.socket = socket;
    // Forwarded traffic waiting for room (flush) goes once the socket has written its share.
    socket.on('drain', () => {
      if (this.bulk.length > 0) this.flush();
    });
    const decoder = new FrameDecoder(1 << 20);
    socket.on('connect', () => {
      const clusterId = this.identity.clusterId();
      socket.write(
        frameBatch([
          encodeRequest({
            kind: 'peerHello',
            id: 0,
            protocol: peerProtocolVersion,
            memberId: this.identity.memberId,
            address: this.identity.address,
            clusterId,
            ...(this.identity.token !== undefined && { token: this.identity.token }),
          }),
        ]),
      );
    });
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk, (body) => {
        const reply = decodeReply(body);
        if (isBadMessage(reply) || reply.id !== 0) return;
        if (!reply.ok) {
          this.logger.warn(
            { peer: this.address, code: reply.error.code, reason: reply.error.message },
            'peer refused hello',
          );
          socket.destroy();
          return;
        }
        this.ready = true;
        this.failures = 0;
        this.markDirty(this);
      });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' && !this.closed) this.onRefused(this.address);
    });
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = null;
        this.ready = false;
        this.dropQueued();
        this.failures++;
        const backoff = Math.min(
          redialBackoffMsMax,
          redialBackoffMsMin * 2 ** Math.min(this.failures, 6),
        );
        this.retryAt = Date.now() + backoff;
      }
    });
  }
}

export class PeerNetwork {
  private readonly links = new Map<string, PeerLink>();
  private closed = false;
  /** Member id to address, learned from the cluster state and from peers' hellos. */
  private readonly addresses = new Map<string, string>();
  /** Links with something queued since the last flush. */
  private readonly dirty = new Set<PeerLink>();
  private readonly markDirty = (link: PeerLink): void => {
    if (this.dirty.size === 0) this.requestFlush();
    this.dirty.add(link);
  };

  /**
   * `requestFlush` is called when the first link of a turn gets something to send; the
   * caller must then call `flush()` before the turn ends (start-node.ts does it from the one
   * setImmediate that also flushes the data plane).
   */
  constructor(
    private readonly identity: PeerIdentity,
    private readonly logger: Logger,
    private readonly requestFlush: () => void,
    /** Told of each member whose address refused a connection (see the header). */
    private readonly onRefused: (memberId: string) => void = () => undefined,
  ) {}

  /** Writes what every link queued this turn, one write per link. */
  flush(): void {
    if (this.dirty.size === 0) return;
    for (const link of this.dirty) link.flush();
    this.dirty.clear();
  }

  learn(memberId: string, address: string): void {
    if (memberId === this.identity.memberId) return;
    this.addresses.set(memberId, address);
  }

  addressOf(memberId: string): string | undefined {
    return memberId === this.identity.memberId
      ? this.identity.address
      : this.addresses.get(memberId);
  }

  send<T>(message: Message<T>): void {
    this.sendTo(message.to, encodeRequest({ kind: 'raft', id: 0, message }));
  }

  sendReplication(to: string, message: PeerDataMessage): void {
    this.sendTo(to, encodeRequest({ kind: 'repl', id: 0, message: toWire(message) }));
  }

  sendReport(to: string, report: unknown): void {
    this.sendTo(to, encodeRequest({ kind: 'report', id: 0, report }));
  }

  sendForward(to: string, forward: ForwardRequest): void {
    this.sendTo(to, encodeRequest(forward), true);
  }

  /** `reply`: an encoded client reply whose id is the forwarder's ref. */
  sendForwarded(to: string, reply: Uint8Array): void {
    this.sendTo(to, encodeRequest({ kind: 'forwarded', id: 0, reply }), true);
  }

  private sendTo(memberId: string, body: Uint8Array, bulk = false): void {
    const address = this.addresses.get(memberId);
    // A send after close (a timer or turn-end flush that ran late) would dial a new link,
    // and its socket would keep a stopped node's process alive for good.
    if (this.closed) return;
    if (address === undefined) return; // unknown peer: the sender retries once we learn it
    let link = this.links.get(address);
    if (link === undefined) {
      const onRefused = (refusing: string): void => {
        for (const [id, at] of this.addresses) if (at === refusing) this.onRefused(id);
      };
      link = new PeerLink(address, this.identity, this.logger, onRefused, this.markDirty);
      this.links.set(address, link);
    }
    if (bulk) link.sendBulk(body);
    else link.send(body);
  }

  close(): void {
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.dirty.clear();
  }
}
