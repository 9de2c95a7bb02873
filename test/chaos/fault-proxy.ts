/**
 * A fault-injecting TCP proxy for chaos runs with real processes: partitions without root.
 *
 * The setting. Linux routes all of 127.0.0.0/8 to loopback, so each node of a chaos run gets
 * an address of its own, 127.0.0.(10+i). Node i listens on that address at a private port,
 * advertises the proxy's port on the same address (`--advertise`), and dials its peers from
 * that address (`--local-address`). Every connection to node i then arrives at its proxy, and
 * the proxy knows who is calling from the connection's remote address alone: 127.0.0.(10+j)
 * is node j, and anything else (clients connect from 127.0.0.1, the kernel's default source
 * on loopback) is `client`. No change to the protocol, no root, no iptables: CI may have none.
 *
 * The faults are rules on directed pairs `(from, to)`: bytes travelling from `from` to `to`,
 * on any connection between them, whoever dialled it. A rule is one of:
 *
 * - `hold`: the bytes stop in the proxy (it stops reading that side, so the kernel buffers and
 *   then the sender's socket buffer fill) and flow again, in order, when the rule is lifted.
 *   This is what a blackholed network does to TCP (iptables DROP): segments are retransmitted
 *   and the connection hangs but stays open; a new connection never gets its first answer. A
 *   one-way hold is faithful too: under a one-way packet loss, data still reaches the other
 *   side (only its ACKs are lost), while nothing comes back.
 * - `drop`: the bytes are thrown away. A TCP stream cannot lose bytes in its middle and go
 *   on, so the proxy closes the connection at once (both sides see it end, like iptables
 *   REJECT with a reset), and a new connection from `from` to `to` is closed on arrival.
 * - `delay`: each chunk is forwarded `delayMs` later, in order (a slow link).
 *
 * Rules live in one `FaultNet` shared by every proxy of a run, so a partition is a set of
 * rules set and lifted together. `heal()` lifts them all and releases what was held.
 *
 * Limits. A held direction keeps at most the chunks already read when the rule came (the
 * proxy pauses the socket), so the proxy's memory is bounded; the sender's is not (the
 * node's peer links write without backpressure), as on a real blackholed link. A proxy only
 * sees connections made to it, so a client and a node on one host are told apart by address
 * only: a test must not dial a node from a node's address except from that node.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

/** A node's name (n1, n2, ...) or `client` for any address that is no node's. */
export type Endpoint = string;

export const clientEndpoint: Endpoint = 'client';

export type Rule = { kind: 'hold' } | { kind: 'drop' } | { kind: 'delay'; delayMs: number };

/** Counts for a run's report and for tests. */
export interface ProxyCounters {
  connections: number;
  /** Connections accepted, by the endpoint they came from. */
  connectionsFrom: Map<Endpoint, number>;
  /** Connections closed because a `drop` rule met bytes, or refused on arrival. */
  dropped: number;
  bytesForwarded: number;
}

/**
 * The rules of a run and the address book: which address is which node. Pipes ask it on
 * every chunk, so a rule takes effect on the next chunk of every open connection.
 */
export class FaultNet {
  private readonly rules = new Map<string, Rule>();
  private readonly names = new Map<string, Endpoint>();
  /** Called when a rule is lifted, so held pipes can flow again. */
  private readonly waiters = new Set<() => void>();
  readonly counters: ProxyCounters = {
    connections: 0,
    connectionsFrom: new Map(),
    dropped: 0,
    bytesForwarded: 0,
  };

  /** Names the node that connects from `host` (its own 127.0.0.x). */
  register(host: string, name: Endpoint): void {
    this.names.set(host, name);
  }

  /** The endpoint a remote address belongs to: a node's name, or `client`. */
  endpointOf(remoteAddress: string | undefined): Endpoint {
    // IPv4 sockets on a dual-stack server report `::ffff:127.0.0.11`.
    const host = (remoteAddress ?? '').replace(/^::ffff:/, '');
    return this.names.get(host) ?? clientEndpoint;
  }

  /** Applies `rule` to bytes from `from` to `to` (one direction). */
  set(from: Endpoint, to: Endpoint, rule: Rule): void {
    this.rules.set(`${from}>${to}`, rule);
    this.wake();
  }

  /** Both directions between every member of `a` and every member of `b`. */
  cut(a: readonly Endpoint[], b: readonly Endpoint[], rule: Rule = { kind: 'hold' }): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.rules.set(`${x}>${y}`, rule);
        this.rules.set(`${y}>${x}`, rule);
      }
    }
    this.wake();
  }

  /** Bytes from every member of `from` to every member of `to`; the other way still flows. */
  cutOneWay(from: readonly Endpoint[], to: readonly Endpoint[], rule: Rule = { kind: 'hold' }) {
    for (const x of from) for (const y of to) if (x !== y) this.rules.set(`${x}>${y}`, rule);
    this.wake();
  }

  ruleFor(from: Endpoint, to: Endpoint): Rule | undefined {
    return this.rules.get(`${from}>${to}`);
  }

  /** Lifts every rule; held bytes flow again in order. */
  heal(): void {
    this.rules.clear();
    this.wake();
  }

  /** The rules in force, `from>to kind`, for a report. */
  describe(): string[] {
    return [...this.rules].map(([pair, r]) =>
      r.kind === 'delay' ? `${pair} delay ${r.delayMs}ms` : `${pair} ${r.kind}`,
    );
  }

  /** Resolves at the next change of the rules. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

/**
 * One direction of one connection: reads `source`, writes `sink`, obeying the rule for
 * `from>to` on every chunk. Chunks are forwarded strictly in order: while one waits (held or
 * delayed), the source is paused and later chunks queue behind it.
 */
class Pipe {
  private readonly queue: Buffer[] = [];
  private busy = false;
  private ended = false;

  constructor(
    private readonly net: FaultNet,
    private readonly source: Socket,
    private readonly sink: Socket,
    private readonly from: Endpoint,
    private readonly to: Endpoint,
    private readonly kill: () => void,
  ) {
    source.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      void this.pump();
    });
    source.on('end', () => {
      this.ended = true;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        const rule = this.net.ruleFor(this.from, this.to);
        if (rule?.kind === 'drop') {
          this.net.counters.dropped++;
          this.kill();
          return;
        }
        if (rule?.kind === 'hold') {
          this.source.pause();
          await this.net.changed();
          continue;
        }
        if (rule?.kind === 'delay') {
          this.source.pause();
          await new Promise((r) => setTimeout(r, rule.delayMs));
          // The rule may have changed to hold or drop meanwhile: ask again before sending.
          if (this.net.ruleFor(this.from, this.to)?.kind !== 'delay') continue;
        }
        const chunk = this.queue.shift()!;
        this.net.counters.bytesForwarded += chunk.length;
        if (!this.sink.destroyed) this.sink.write(chunk);
      }
      if (this.ended) this.sink.end();
      else this.source.resume();
    } finally {
      this.busy = false;
    }
  }
}

/** The proxy in front of one node: listens at the node's advertised address. */
export class FaultProxy {
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly net: FaultNet,
    /** The node behind this proxy. */
    readonly node: Endpoint,
    readonly host: string,
    readonly port: number,
    private target: { host: string; port: number },
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /**
   * Listens on `host:port` (0 picks a free port) and forwards to `target`, the node's real
   * listen address, which may be unknown until the node starts: see retarget().
   */
  static async start(args: {
    net: FaultNet;
    node: Endpoint;
    host: string;
    port?: number;
    target: { host: string; port: number };
  }): Promise<FaultProxy> {
    const server = createServer({ noDelay: true });
    server.listen(args.port ?? 0, args.host);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    return new FaultProxy(server, args.net, args.node, args.host, port, args.target);
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  retarget(target: { host: string; port: number }): void {
    this.target = target;
  }

  /** Closes the listener and every connection through it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(client: Socket): void {
    const from = this.net.endpointOf(client.remoteAddress);
    const counters = this.net.counters;
    counters.connections++;
    counters.connectionsFrom.set(from, (counters.connectionsFrom.get(from) ?? 0) + 1);
    const to = this.node;
    if (
      this.net.ruleFor(from, to)?.kind === 'drop' ||
      this.net.ruleFor(to, from)?.kind === 'drop'
    ) {
      // The first SYN of a rejected connection meets a reset.
      this.net.counters.dropped++;
      client.destroy();
      return;
    }
    const upstream = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => {
      this.sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    new Pipe(this.net, client, upstream, from, to, kill);
    new Pipe(this.net, upstream, client, to, from, kill);
  }
}
