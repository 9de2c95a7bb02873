/**
 * The Statehouse node under test, in a process of its own, so that the node and the load
 * generator do not share one event loop (redis-server is a separate process too).
 *
 * The bench calls `spawnNodeProcess()`, which runs `node --expose-gc bench/node-child.mjs OPTIONS`,
 * OPTIONS the node's options as JSON (its id, its seeds, the replication factor; port 0, so a
 * free one). The child is plain JavaScript on dist/, with no tsx loader in it, as a deployed
 * node has none (node-child.mjs says what the loader cost). It starts a node and talks over
 * the IPC channel:
 *   child -> { type: 'ready', address }          once the node listens;
 *   bench -> { type: 'sample', gc }              child -> { type: 'sample', sample }, after two full
 *                                                GCs when `gc` (for memory, not for CPU figures);
 *   bench -> { type: 'stop' }                    the child closes the node and exits (so that a
 *                                                --cpu-prof profile gets written).
 * The child also exits when the channel closes: a crashed bench leaves no node behind.
 */
import { fileURLToPath } from 'node:url';
import { ipcChild, spawnTracked, stopChild } from './processes.js';

/** The node's own figures and its process's, at one moment. Bytes and microseconds. */
export interface NodeSample {
  readonly entries: number;
  /** Entries of the partitions this node is primary for (all of them, on a one-node cluster). */
  readonly primaryEntries: number;
  /** What the store accounts for its entries (stats().bytes). */
  readonly storeBytes: number;
  readonly rss: number;
  readonly heapUsed: number;
  /** Memory outside the V8 heap: Buffers and ArrayBuffers (includes arrayBuffers). */
  readonly external: number;
  /** CPU time the node process used since it started, user + system. */
  readonly cpuMicros: number;
}

/** What a bench node is started with; everything else is the node's default. */
export interface NodeProcessOptions {
  /** The node's name (its `--id`). Default: a random one. */
  readonly id?: string;
  /** Nodes of the cluster to join; none founds a new cluster. */
  readonly seeds?: readonly string[];
  /** Copies of each partition for a new cluster (the founder's setting counts). */
  readonly replicationFactor?: number;
}

export interface NodeProcess {
  readonly address: string;
  readonly pid: number;
  /** The node's figures; `gc` first collects garbage twice, for memory figures. */
  sample(gc: boolean): Promise<NodeSample>;
  stop(): Promise<void>;
}

/** The messages of the IPC channel; exported for node-child.mjs's type annotations. */
export type FromChild = { type: 'ready'; address: string } | { type: 'sample'; sample: NodeSample };
export type ToChild = { type: 'sample'; gc: boolean } | { type: 'stop' };

const startTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;
const childFile = fileURLToPath(new URL('node-child.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts a node process; `nodeFlags` go to node itself (e.g. `--cpu-prof`). */
export async function spawnNodeProcess(
  nodeFlags: readonly string[] = [],
  options: NodeProcessOptions = {},
): Promise<NodeProcess> {
  const args = ['--expose-gc', ...nodeFlags, childFile, JSON.stringify(options)];
  const child = spawnTracked(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ipc = ipcChild<FromChild, ToChild>(child, 'node process');

  try {
    const { address } = await ipc.next('ready', startTimeoutMs);
    return {
      address,
      pid: ipc.pid,
      async sample(gc) {
        const reply = ipc.next('sample', startTimeoutMs);
        ipc.send({ type: 'sample', gc });
        return (await reply).sample;
      },
      stop: () => ipc.stop({ type: 'stop' }, stopTimeoutMs),
    };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}
