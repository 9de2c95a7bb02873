/**
 * One client's connection to a node: framing, the handshake, and answering requests.
 *
 * Requests are handled as they are read; the replies to everything that arrived in one TCP
 * read leave in one write. That keeps a pipelining client's thousand requests from turning
 * into a thousand syscalls.
 *
 * What a peer can do wrong, and what happens:
 * - a frame that is not a valid request (undecodable, wrong types, unknown op): BAD_REQUEST
 *   to that request id (or id 0 when none could be read); the connection stays up;
 * - a frame larger than the limit: TOO_LARGE, then close, since the stream can no longer be
 *   split into frames;
 * - anything before a successful `hello`, a wrong token, a protocol version this node does
 *   not speak: an error, then close;
 * - reading without answering (replies pile up): the node stops reading from that socket until
 *   it drains, so one slow client cannot make the node buffer without bound.
 */
import type { Socket } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import { unreachable } from '../core/assert.js';
import { ErrorCode, StatehouseError } from '../core/errors.js';
import {
  forwardsPendingMax,
  halfOpenAnswersMs,
  handshakeTimeoutMsDefault,
  repliesQueuedBytesMax,
} from '../core/limits.js';
import {
  FrameDecoder,
  FrameWriter,
  decodeRequest,
  encodeError,
  encodeOk,
  isBadMessage,
  peerProtocolVersion,
  protocolVersion,
  type AcceptLossResult,
  type CommandRequest,
  type ForwardRequest,
  type ForwardedRequest,
  type Reply,
  type HelloRequest,
  type DrainResult,
  type JoinRequest,
  type JoinResult,
  type PeerHelloRequest,
  type FrameError,
  type WireError,
} from '../protocol/index.js';
import type { DataPlane } from '../replication/index.js';
import type { Outcome, Result } from '../store/index.js';
import type { LimitedWarn, Logger } from './logger.js';
import type { Clock } from '../core/clock.js';

/** How long a connection refused with an error waits for its peer to read that and close. */
const failedConnectionLingerMs = 1_000;

/** What a connection needs of the control plane. */
export interface ClusterAccess {
  clusterId(): string | null;
  /** A Raft message from the peer authenticated as `from`. */
  receive(message: unknown, from: string): void;
  /** Peers tell us where they listen when they dial. */
  learnPeer(memberId: string, address: string): void;
  admit(request: JoinRequest): Promise<JoinResult>;
  /** Restarts stuck partitions empty (the leader's side); resolves once committed. */
  acceptLoss(partitions?: readonly number[]): Promise<AcceptLossResult>;
  /** Starts draining `memberId` (the leader's side); resolves once that is committed. */
  drain(memberId: string): Promise<DrainResult>;
  status(): unknown;
  linearizableStatus(): Promise<unknown>;
}

/**
 * How a command reaches the data plane. The runtime registers the connection and request id,
 * runs the command, and later calls `answer` when the reply is ready (a sync write waits for
 * its backups).
 */
export interface DataAccess {
  execute(
    connection: ClientConnection,
    wireId: number,
    request: CommandRequest,
    clientId: string,
  ): void;
  /** A replication message from the peer authenticated as `from`. */
  receive(message: unknown, from: string): void;
  /** Reports of backups caught up or lagging, from the peer `from` (for the leader). */
  report(report: unknown, from: string): void;
  /** A client's command the peer `from` forwarded to this node as the partition's primary. */
  forwardIn(forward: ForwardRequest, from: string): void;
  /** The primary's reply to a command this node forwarded. */
  forwardedIn(forwarded: ForwardedRequest, from: string): void;
}

export interface ConnectionContext {
  readonly plane: DataPlane;
  readonly data: DataAccess;
  readonly cluster: ClusterAccess;
  readonly clock: Clock;
  readonly logger: Logger;
  /** For warnings a client can cause at will: a wrong token, a broken stream. */
  readonly warnLimited: LimitedWarn;
  readonly frameBytesMax: number;
  /** The frame limit once a peer's hello is accepted (default frameBytesMax). */
  readonly peerFrameBytesMax?: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  /** sha256 of the clients' token, or null when clients need none. */
  readonly tokenDigest: Buffer | null;
  /**
   * sha256 of the nodes' own secret (NodeOptions.clusterToken), or null when there is none:
   * then whoever passes the client check may also act as a node and an operator.
   */
  readonly clusterTokenDigest: Buffer | null;
  readonly handshakeTimeoutMs?: number;
}

export function digestToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Whether `token` is the one `digest` was made of (compared in constant time). */
function matches(token: string | undefined, digest: Buffer): boolean {
  return token !== undefined && timingSafeEqual(digestToken(token), digest);
}

/** Like `matches`, and true for any token when there is none to match (an open node). */
function matchesOrOpen(token: string | undefined, digest: Buffer | null): boolean {
  return digest === null || matches(token, digest);
}

/** A command's outcome as the reply frame body a client reads. */
export function encodeOutcome(wireId: number, outcome: Outcome): Uint8Array {
  if (outcome.ok) return encodeOk(wireId, wireResult(outcome.result));
  const error: WireError = {
    code: outcome.code,
    message: outcome.message,
    ...(outcome.meta && { meta: outcome.meta }),
  };
  return encodeError(wireId, error);
}

/** The wire form of a store result: the store's own shape without the `op` tag. */
function wireResult(result: Result): unknown {
  switch (result.op) {
    case 'get':
      return result.entry === null
        ? null
        : {
            value: result.entry.value,
            version: result.entry.version,
            expiresAt: result.entry.expiresAt,
          };
    case 'set':
    case 'cas':
      return { version: result.version };
    case 'patch':
      return result.value === undefined
        ? { version: result.version }
        : { version: result.version, value: result.value };
    case 'delete':
      return { deleted: result.deleted };
    case 'touch':
      return { found: result.found, expiresAt: result.expiresAt };
    case 'ttl':
      return { exists: result.exists, ttlMs: result.ttlMs };
  }
}

export class ClientConnection {
  private readonly decoder: FrameDecoder;
  private outgoing: Uint8Array[] = [];
  /** The bytes of `outgoing`. */
  private outgoingBytes = 0;
  private readonly takeFrame = (body: Buffer): boolean => this.onFrame(body);
  private readonly writer = new FrameWriter();
  private clientId: string | null = null;
  /** True once the hello presented what joins, drains and accept-loss need (see onHello). */
  private operator = false;
  /** True while the requests of one read are handled: their replies leave together after. */
  private reading = false;
  private flushScheduled = false;
  /** Commands of this connection forwarded to their primary and not answered yet. */
  private forwardsPending = 0;
  /**
   * Requests taken and not answered yet: sync writes waiting for their backups, forwarded
   * commands, membership and status requests. A client that ends its side gets them before
   * this side ends.
   */
  private unanswered = 0;
  /** Set by answer() and forwardStarted() while execute() runs: the command has its answer. */
  private executingAnswered = false;
  private resumeScheduled = false;
  /** Set when a peer node, not a client, is on the other end. */
  private peerId: string | null = null;
  private closing = false;
  /** The other side ended its half: answer what it sent, then end ours. */
  private peerEnded = false;
  private handshakeTimer: NodeJS.Timeout | null;
  private readonly remote: string;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
    private readonly onClosed: (connection: ClientConnection) => void,
  ) {
    this.decoder = new FrameDecoder(ctx.frameBytesMax);
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      socket.resume();
      this.takeHeldFrames();
    });
    socket.on('end', () => {
      this.peerEnded = true;
      this.endIfAnswered();
      // Every answer has a deadline of its own (a sync write's backups, a forward's give-up);
      // this one only keeps a missed answer from holding the socket open for good.
      if (!this.closing) setTimeout(() => this.socket.destroy(), halfOpenAnswersMs).unref();
    });
    socket.on('error', (error) =>
      ctx.logger.debug({ remote: this.remote, err: error.message }, 'client socket error'),
    );
    socket.on('close', () => {
      if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
      this.onClosed(this);
    });
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = null;
      if (this.clientId === null)
        this.fail(0, {
          code: ErrorCode.UNAUTHORIZED,
          message: 'no hello within the handshake timeout',
        });
    }, ctx.handshakeTimeoutMs ?? handshakeTimeoutMsDefault);
    this.handshakeTimer.unref();
  }

  /** Ends the connection once pending replies are written (graceful shutdown). */
  end(): void {
    this.closing = true;
    this.flush();
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.reading = true;
    const broken = this.decoder.push(chunk, this.takeFrame);
    this.reading = false;
    if (broken) return this.broken(broken);
    this.flush();
    this.takeHeldFrames();
  }

  private broken(error: FrameError): void {
    this.ctx.warnLimited(
      { remote: this.remote, reason: error.message },
      'closing connection: broken stream',
    );
    this.fail(0, error);
  }

  /**
   * One read may hold thousands of small requests whose replies are large (a pipelined
   * `get` of a 1 MiB value, 4,000 times in 64 KiB): answered all at once, they would need
   * gigabytes. So the frames of a read wait once `repliesQueuedBytesMax` of replies are
   * queued, and are taken up as the socket drains; a peer that never reads its replies
   * holds no more than that.
   */
  private takeHeldFrames(): void {
    while (this.decoder.holding && !this.closing && !this.socket.destroyed) {
      if (this.socket.writableNeedDrain) {
        // 'drain' comes only after a write that went over the high-water mark; a few bytes
        // still queued below it would wait for a 'drain' that never comes.
        this.socket.pause(); // until 'drain'
        return;
      }
      if (this.forwardsPending >= forwardsPendingMax) {
        this.socket.pause(); // until relay() takes the count below the limit
        return;
      }
      this.reading = true;
      const broken = this.decoder.resume(this.takeFrame);
      this.reading = false;
      if (broken) return this.broken(broken);
      this.flush();
    }
    this.endIfAnswered();
  }

  /**
   * Ends this side once the other side has ended and everything it sent is answered. Not in
   * the middle of a read: an answer given there may be the last before frames the decoder
   * still holds; the read checks again when it is done.
   */
  private endIfAnswered(): void {
    if (
      this.peerEnded &&
      !this.reading &&
      !this.decoder.holding &&
      this.unanswered === 0 &&
      !this.closing
    ) {
      this.end();
    }
  }

  /** Handles one request; false once replies have piled up enough to stop reading (above). */
  private onFrame(body: Buffer): boolean {
    this.handleFrame(body);
    return (
      this.outgoingBytes + this.socket.writableLength < repliesQueuedBytesMax &&
      this.forwardsPending < forwardsPendingMax
    );
  }

  private handleFrame(body: Buffer): void {
    if (this.closing) return;
    const request = decodeRequest(body);
    if (isBadMessage(request)) {
      this.ctx.logger.debug({ remote: this.remote, reason: request.message }, 'bad request');
      if (this.clientId === null) {
        this.fail(request.id ?? 0, {
          code: ErrorCode.BAD_REQUEST,
          message: `${request.message} (expected hello)`,
        });
      } else {
        this.reply(
          encodeError(request.id ?? 0, { code: ErrorCode.BAD_REQUEST, message: request.message }),
        );
      }
      return;
    }
    if (this.peerId !== null) {
      // No catch here, on purpose: a message the state machines cannot take (a replication
      // stream that does not fit this copy) means this copy or its peer is broken, and a
      // node that went on would serve a copy that diverged. It stops instead (fail-stop);
      // its partitions fail over to copies that did not diverge.
      if (request.kind === 'raft') this.ctx.cluster.receive(request.message, this.peerId);
      else if (request.kind === 'repl') this.ctx.data.receive(request.message, this.peerId);
      else if (request.kind === 'report') this.ctx.data.report(request.report, this.peerId);
      else if (request.kind === 'forward') this.ctx.data.forwardIn(request, this.peerId);
      else if (request.kind === 'forwarded') this.ctx.data.forwardedIn(request, this.peerId);
      else this.refuse(request.id, `a peer link carries only raft messages, not ${request.kind}`);
      return;
    }
    if (this.clientId === null) {
      if (request.kind === 'hello') this.onHello(request);
      else if (request.kind === 'peerHello') this.onPeerHello(request);
      else {
        this.fail(request.id, {
          code: ErrorCode.UNAUTHORIZED,
          message: 'the first request must be hello',
        });
      }
      return;
    }
    switch (request.kind) {
      case 'hello':
      case 'peerHello':
        this.refuse(request.id, 'hello was already received');
        return;
      case 'raft':
      case 'repl':
      case 'report':
      case 'forward':
      case 'forwarded':
        this.refuse(request.id, `${request.kind} messages come over peer links`);
        return;
      case 'ping':
        this.reply(encodeOk(request.id, { nodeId: this.ctx.plane.nodeId }));
        return;
      case 'table': {
        // The cluster id tells a client that lived through a full restart that a table with
        // a lower version is not an old one but another cluster's.
        const clusterId = this.ctx.cluster.clusterId();
        const table = this.ctx.plane.table();
        this.reply(encodeOk(request.id, clusterId === null ? table : { ...table, clusterId }));
        return;
      }
      case 'status':
        if (request.linearizable === true)
          this.answerLater(request.id, this.ctx.cluster.linearizableStatus());
        else this.reply(encodeOk(request.id, this.ctx.cluster.status()));
        return;
      case 'join':
        if (this.refusedAsClient(request)) return;
        this.onJoin(request);
        return;
      case 'acceptLoss':
        if (this.refusedAsClient(request)) return;
        this.answerLater(request.id, this.ctx.cluster.acceptLoss(request.partitions));
        return;
      case 'drain':
        if (this.refusedAsClient(request)) return;
        this.answerLater(
          request.id,
          this.ctx.cluster.drain(request.memberId ?? this.ctx.plane.nodeId),
        );
        return;
      case 'command':
        this.onCommand(request);
        return;
      default:
        unreachable(request, 'request kind');
    }
  }

  /** Membership changes are for nodes and operators: a client's connection gets UNAUTHORIZED. */
  private refusedAsClient(request: { kind: string; id: number }): boolean {
    if (this.operator) return false;
    this.reply(
      encodeError(request.id, {
        code: ErrorCode.UNAUTHORIZED,
        message: `${request.kind} needs the cluster token; this connection presented a client's`,
      }),
    );
    return true;
  }

  private refuse(id: number, message: string): void {
    this.reply(encodeError(id, { code: ErrorCode.BAD_REQUEST, message }));
  }

  private onHello(hello: HelloRequest): void {
    if (hello.protocol !== protocolVersion) {
      this.fail(hello.id, {
        code: ErrorCode.PROTOCOL_MISMATCH,
        message: `this node speaks protocol ${protocolVersion}, the client ${hello.protocol}`,
      });
      return;
    }
    const asOperator =
      this.ctx.clusterTokenDigest !== null && matches(hello.token, this.ctx.clusterTokenDigest);
    if (!asOperator && !matchesOrOpen(hello.token, this.ctx.tokenDigest)) {
      this.ctx.warnLimited(
        { remote: this.remote, client: hello.client },
        'rejected hello: wrong or missing token',
      );
      this.fail(hello.id, { code: ErrorCode.UNAUTHORIZED, message: 'wrong or missing token' });
      return;
    }
    // With no cluster token, the one token (or none) is everybody's, as it always was.
    this.operator = asOperator || this.ctx.clusterTokenDigest === null;
    if (hello.clientId.length === 0 || hello.clientId.length > 128) {
      this.fail(hello.id, {
        code: ErrorCode.BAD_REQUEST,
        message: 'hello: clientId must be 1 to 128 characters',
      });
      return;
    }
    this.clientId = hello.clientId;
    if (this.handshakeTimer) {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
    }
    const plane = this.ctx.plane;
    this.reply(
      encodeOk(hello.id, {
        protocol: protocolVersion,
        nodeId: plane.nodeId,
        partitionCount: plane.partitionCount,
        keyBytesMax: this.ctx.keyBytesMax,
        valueBytesMax: this.ctx.valueBytesMax,
        epoch: plane.epoch,
      }),
    );
  }

  private onPeerHello(hello: PeerHelloRequest): void {
    if (hello.protocol !== peerProtocolVersion) {
      this.fail(hello.id, {
        code: ErrorCode.PROTOCOL_MISMATCH,
        message: `this node speaks peer protocol ${peerProtocolVersion}, the peer ${hello.protocol}`,
      });
      return;
    }
    if (!matchesOrOpen(hello.token, this.ctx.clusterTokenDigest ?? this.ctx.tokenDigest)) {
      this.ctx.warnLimited(
        { remote: this.remote, peer: hello.memberId },
        'rejected peer: wrong or missing token',
      );
      this.fail(hello.id, { code: ErrorCode.UNAUTHORIZED, message: 'wrong or missing token' });
      return;
    }
    const ours = this.ctx.cluster.clusterId();
    if (ours !== null && hello.clusterId !== null && hello.clusterId !== ours) {
      this.fail(hello.id, {
        code: ErrorCode.CLUSTER_MISMATCH,
        message: `this node is in cluster ${ours}, the peer in ${hello.clusterId}`,
      });
      return;
    }
    this.peerId = hello.memberId;
    // Replication frames (snapshot chunks, append batches) are not bounded by valueBytesMax.
    if (this.ctx.peerFrameBytesMax !== undefined)
      this.decoder.raiseLimit(this.ctx.peerFrameBytesMax);
    if (this.handshakeTimer) {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
    }
    this.ctx.cluster.learnPeer(hello.memberId, hello.address);
    this.reply(encodeOk(hello.id, { memberId: this.ctx.plane.nodeId, clusterId: ours }));
  }

  private onJoin(request: JoinRequest): void {
    this.answerLater(request.id, this.ctx.cluster.admit(request));
  }

  /** Answers with what `result` resolves to, or with its error, once it settles. */
  private answerLater(id: number, result: Promise<unknown>): void {
    this.unanswered++;
    result.then(
      (value) => this.replyLater(encodeOk(id, value)),
      (error: unknown) => {
        const e =
          error instanceof StatehouseError
            ? error
            : new StatehouseError(ErrorCode.INTERNAL, `failed: ${(error as Error).message}`);
        this.replyLater(encodeError(id, { code: e.code, message: e.message, meta: e.meta }));
      },
    );
  }

  /**
   * The answer to a request taken earlier (`unanswered`), made outside its read: queued and
   * flushed on the next turn, or dropped when this side has ended.
   */
  private replyLater(body: Uint8Array): void {
    this.unanswered--;
    if (this.ended) return;
    this.reply(body);
    this.scheduleFlush();
    this.endIfAnswered();
  }

  /** Replies made outside a read leave on the next turn, together; a read flushes its own. */
  private scheduleFlush(): void {
    if (this.reading || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private onCommand(request: CommandRequest): void {
    // Answered by answer() or, when forwarded, by relay(): perhaps within execute, perhaps later.
    this.unanswered++;
    this.executingAnswered = false;
    try {
      this.ctx.data.execute(this, request.id, request, this.clientId!);
    } catch (error) {
      // A bug, not bad input: log loudly, and answer INTERNAL so the client is not left
      // waiting, unless the command was answered (or forwarded) before the throw.
      this.ctx.logger.error({ err: error, op: request.command.op }, 'command failed unexpectedly');
      if (!this.executingAnswered) {
        this.unanswered--;
        this.reply(
          encodeError(request.id, { code: ErrorCode.INTERNAL, message: 'internal error' }),
        );
      }
    }
  }

  /** The runtime's answer to a command; written with the current batch, or on the next turn. */
  answer(wireId: number, outcome: Outcome): void {
    this.executingAnswered = true;
    this.replyLater(encodeOutcome(wireId, outcome));
  }

  /** A command of this connection left for its primary; `relay` gives its answer. */
  forwardStarted(): void {
    this.forwardsPending++;
    this.executingAnswered = true;
  }

  /**
   * Passes on the answer to a command this node forwarded for us: the primary's reply, or the
   * forwarder's own when the primary never answered.
   */
  relay(wireId: number, reply: Reply): void {
    this.forwardsPending--;
    this.replyLater(reply.ok ? encodeOk(wireId, reply.result) : encodeError(wireId, reply.error));
    if (this.decoder.holding && this.forwardsPending < forwardsPendingMax) this.scheduleResume();
  }

  /** Takes up held frames on the next turn, not inside the peer read that called relay(). */
  private scheduleResume(): void {
    if (this.resumeScheduled) return;
    this.resumeScheduled = true;
    setImmediate(() => {
      this.resumeScheduled = false;
      if (this.socket.destroyed || this.closing) return;
      this.socket.resume();
      this.takeHeldFrames();
    });
  }

  private reply(body: Uint8Array): void {
    this.outgoing.push(body);
    this.outgoingBytes += body.length;
  }

  /**
   * Nothing more can be written: our side ended (end() wrote what was queued) or the socket
   * is gone. An answer that comes after that is dropped; written, it would fail the socket
   * ('write after end') and cut off the replies still on their way out.
   */
  private get ended(): boolean {
    return this.socket.destroyed || this.socket.writableEnded;
  }

  private flush(): void {
    if (this.outgoing.length === 0 || this.ended) return;
    const batch = this.writer.batch(this.outgoing);
    this.outgoing.length = 0;
    this.outgoingBytes = 0;
    const more = this.socket.write(batch);
    this.writer.written(this.socket.writableLength === 0);
    if (!more) this.socket.pause();
  }

  /** Answers an error and closes: the connection cannot go on. */
  private fail(id: number, error: WireError): void {
    this.reply(encodeError(id, error));
    this.end();
    // end() only ends our half. A peer that never ends its own (an unauthenticated one, at
    // the handshake) would otherwise hold the socket, and a file descriptor, for good.
    setTimeout(() => this.socket.destroy(), failedConnectionLingerMs).unref();
  }
}
