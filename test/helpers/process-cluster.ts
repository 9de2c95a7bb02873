/**
 * A cluster of real `statehouse node` processes on loopback, for chaos tests and the failover
 * trials script.
 *
 * Each node gets a port that was free a moment ago, a fresh data dir of its own (so Raft's
 * log and vote are fsynced as in production), and `--id nK`; nothing else is passed unless
 * the caller adds it, so the timing under test is the product's default. The last lines of
 * each node's log are kept, to print when a test fails. `kill()`, `signal()` (SIGSTOP and
 * SIGCONT) and `restart()` are the faults; `stop()` ends every process by its pid (SIGCONT
 * and SIGTERM, then SIGKILL if it does not exit) and removes the data dirs; tests call it
 * from `t.after`. With `placement`, the caller chooses each node's listen and advertised
 * addresses (the chaos run puts a fault proxy at the advertised one, scripts/chaos.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ClusterStatusView } from '../../src/client/index.js';
import { eventually } from './cluster.js';
import { freePort, spawnNode, stopProcess } from './processes.js';
import { holdersOf } from './holders.js';

/** Lines of log kept per node: enough to see the last failover, bounded for long runs. */
const logLinesKept = 400;

export interface ProcessNode {
  /** `--id`: n1, n2, ... */
  readonly name: string;
  /** The advertised address: where peers and clients reach the node. */
  readonly address: string;
  /** Where the process listens: the advertised address unless a placement said otherwise. */
  readonly listen: string;
  /** Flags from the placement, kept for a restart. */
  readonly extraArgs: readonly string[];
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** The most recent log lines, oldest first. */
  readonly log: string[];
}

export interface ProcessClusterOptions {
  size: number;
  /** Extra `statehouse node` flags for every node, e.g. `['--partitions', '64']`. */
  args?: readonly string[];
  /** Default info: failovers and joins are logged at info, requests are not. */
  logLevel?: string;
  /**
   * Addresses and flags of a new node (not of a restart, which keeps its own). Default: a
   * free port on 127.0.0.1, advertised as it is.
   */
  placement?: (name: string) => Promise<NodePlacement>;
}

export interface NodePlacement {
  listen: string;
  advertise: string;
  /** More flags for this node only, e.g. `--local-address`. */
  args?: readonly string[];
}

export class ProcessCluster {
  readonly nodes: ProcessNode[] = [];
  private readonly dirs: string[] = [];
  private stopped = false;

  private constructor(private readonly options: ProcessClusterOptions) {}

  /**
   * Starts `size` nodes: n1 founds the cluster, the others join through it. On failure the
   * nodes already started are stopped before the error is thrown.
   */
  static async start(options: ProcessClusterOptions): Promise<ProcessCluster> {
    const cluster = new ProcessCluster(options);
    try {
      for (let i = 1; i <= options.size; i++) await cluster.spawn(`n${i}`);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /**
   * Starts another node that joins through the live ones. With `on`, the node restarts in
   * place of a stopped one: the same name, address and data dir, so it resumes its member id.
   */
  async spawn(name: string, on?: ProcessNode): Promise<ProcessNode> {
    const placed =
      on === undefined && this.options.placement !== undefined
        ? await this.options.placement(name)
        : undefined;
    const listen = on?.listen ?? placed?.listen ?? `127.0.0.1:${await freePort()}`;
    const address = on?.address ?? placed?.advertise ?? listen;
    const extraArgs = on?.extraArgs ?? placed?.args ?? [];
    const dataDir = on?.dataDir ?? mkdtempSync(join(tmpdir(), `statehouse-${name}-`));
    if (on === undefined) this.dirs.push(dataDir);
    const seeds = this.alive().map((n) => n.address);
    const child = await spawnNode([
      '--listen',
      listen,
      ...(address !== listen ? ['--advertise', address] : []),
      ...extraArgs,
      '--id',
      name,
      '--data-dir',
      dataDir,
      '--log-level',
      this.options.logLevel ?? 'info',
      ...(seeds.length > 0 ? ['--seeds', seeds.join(',')] : []),
      ...(this.options.args ?? []),
    ]);
    const log: string[] = [];
    const keep = (chunk: Buffer): void => {
      for (const line of String(chunk).split('\n')) {
        if (line === '') continue;
        log.push(line);
        if (log.length > logLinesKept) log.splice(0, log.length - logLinesKept);
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const node: ProcessNode = { name, address, listen, extraArgs, dataDir, child, log };
    this.nodes.push(node);
    return node;
  }

  /** Restarts a node that exited, on its address and data dir; see spawn(). */
  restart(node: ProcessNode): Promise<ProcessNode> {
    if (this.alive().includes(node)) throw new Error(`${node.name} is still running`);
    return this.spawn(node.name, node);
  }

  /** Nodes whose process has not exited. */
  alive(): ProcessNode[] {
    return this.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  }

  seeds(): string[] {
    return this.alive().map((n) => n.address);
  }

  /** The node that listens on `address`: the latest, when one was restarted there. */
  byAddress(address: string): ProcessNode {
    const node = this.nodes.findLast((n) => n.address === address);
    if (node === undefined) throw new Error(`no node listens on ${address}`);
    return node;
  }

  /** The cluster status as `from` sees it, or null when it does not answer in time. */
  async status(
    from: ProcessNode,
    options: { linearizable?: boolean } = {},
  ): Promise<ClusterStatusView | null> {
    try {
      const client = await connect({
        seeds: from.address,
        timeoutMs: 2_000,
        connectTimeoutMs: 1_000,
        name: 'chaos-status',
      });
      try {
        return await client.clusterStatus({ timeoutMs: 2_000, ...options });
      } finally {
        await client.close();
      }
    } catch {
      return null;
    }
  }

  /**
   * Waits until every live node reports the same leader, `members` live members (active),
   * every partition with a primary and all its copies in sync, and primaries balanced within
   * one. Returns the status the first live node reported last.
   */
  async settled(members: number, timeoutMs = 60_000): Promise<ClusterStatusView> {
    let last: ClusterStatusView | null = null;
    let why = 'no node answered yet';
    try {
      await eventually(
        `${members} live members agree on a leader, every partition replicated and balanced`,
        async () => {
          const nodes = this.alive();
          const views = await Promise.all(nodes.map((n) => this.status(n)));
          last = views[0] ?? null;
          const unsettled = views
            .map((v, i) => unsettledBecause(v, views[0] ?? null, members, nodes[i]!.name))
            .filter((reason) => reason !== null);
          why = unsettled.join('; ');
          return unsettled.length === 0;
        },
        timeoutMs,
      );
    } catch (error) {
      throw new NotSettledError((error as Error).message, why);
    }
    return last!;
  }

  /** Which live nodes hold a copy of each key's partition: see holdersOf(). */
  holders(keys: readonly string[]): Promise<string[][]> {
    return holdersOf(this.alive(), keys);
  }

  /** Sends SIGKILL to `node` and resolves, once it exited, with the time it was sent. */
  async kill(node: ProcessNode): Promise<number> {
    if (!this.alive().includes(node)) throw new Error(`${node.name} is not running`);
    const exited = once(node.child, 'exit');
    const at = Date.now();
    node.child.kill('SIGKILL');
    await exited;
    return at;
  }

  /** Sends `signal` (SIGSTOP, SIGCONT, ...) to a running node by its pid. */
  signal(node: ProcessNode, signal: NodeJS.Signals): void {
    if (!this.alive().includes(node)) throw new Error(`${node.name} is not running`);
    node.child.kill(signal);
  }

  /** The last `lines` log lines of every node, for a failure message. */
  logs(lines = 60): string {
    return this.nodes
      .map((n) => `--- ${n.name} (${n.address}) ---\n${n.log.slice(-lines).join('\n')}`)
      .join('\n');
  }

  /** Stops every process by its pid and removes the data dirs. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(
      this.nodes.map(async (n) => {
        const timer = setTimeout(() => n.child.kill('SIGKILL'), 5_000);
        try {
          // A node a test left stopped (SIGSTOP) could not act on SIGTERM.
          if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGCONT');
          await stopProcess(n.child, 'SIGTERM');
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Why `view` (from the node `name`) is not settled, as `first` sees the cluster; null if it is. */
function unsettledBecause(
  view: ClusterStatusView | null,
  first: ClusterStatusView | null,
  members: number,
  name: string,
): string | null {
  if (view === null) return `${name} did not answer`;
  if (view.leader === null) return `${name} knows no leader`;
  if (view.health !== 'ok') {
    const p = view.partitions;
    return `${name} sees health ${view.health} (${p.withoutPrimary} without primary, ${p.underReplicated} under-replicated, stuck: [${p.stuck.join(', ')}])`;
  }
  if (first !== null && view.leader !== first.leader) {
    return `${name} follows ${view.leader}, the first node ${first.leader}`;
  }
  if (first !== null && view.tableVersion !== first.tableVersion) {
    return `${name} is at table ${view.tableVersion}, the first node at ${first.tableVersion}`;
  }
  const live = view.members.filter((m) => m.state !== 'dead');
  if (live.length !== members) return `${name} sees ${live.length} live members, not ${members}`;
  const busy = live.filter((m) => m.state !== 'active' || m.catchingUp > 0);
  if (busy.length > 0) {
    return `${name} sees ${busy.map((m) => `${m.name} ${m.state}, ${m.catchingUp} catching up`).join(', ')}`;
  }
  const primaries = live.map((m) => m.primaries);
  if (Math.max(...primaries) - Math.min(...primaries) > 1) {
    return `${name} sees primaries unbalanced: ${live.map((m) => `${m.name} ${m.primaries}`).join(', ')}`;
  }
  return null;
}

/** `settled` gave up; `reason` is what the nodes reported last (see unsettledBecause). */
export class NotSettledError extends Error {
  constructor(
    timedOut: string,
    readonly reason: string,
  ) {
    super(`${timedOut}; last seen: ${reason}`);
    this.name = 'NotSettledError';
  }
}
