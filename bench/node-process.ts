/**
 * The Statehouse node under test, in a process of its own, so that the node and the load
 * generator do not share one event loop (redis-server is a separate process too).
 *
 * Both ends of the conversation are in this file. The bench calls `spawnNodeProcess()`, which
 * runs this file as `node --expose-gc --import tsx bench/node-process.ts OPTIONS`, OPTIONS the
 * node's options as JSON (its id, its seeds, the replication factor; port 0, so a free one);
 * the child starts a node and talks over the IPC channel:
 *   child -> { type: 'ready', address }          once the node listens;
 *   bench -> { type: 'sample', gc }              child -> { type: 'sample', sample }, after two full
 *                                                GCs when `gc` (for memory, not for CPU figures);
 *   bench -> { type: 'stop' }                    the child closes the node and exits (so that a
 *                                                --cpu-prof profile gets written).
 * The child also exits when the channel closes: a crashed bench leaves no node behind.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadNode, loadTuning } from './built.js';
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

type FromChild = { type: 'ready'; address: string } | { type: 'sample'; sample: NodeSample };
type ToChild = { type: 'sample'; gc: boolean } | { type: 'stop' };

const startTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;
const thisFile = fileURLToPath(import.meta.url);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts a node process; `nodeFlags` go to node itself (e.g. `--cpu-prof`). */
export async function spawnNodeProcess(
  nodeFlags: readonly string[] = [],
  options: NodeProcessOptions = {},
): Promise<NodeProcess> {
  const args = ['--expose-gc', ...nodeFlags, '--import', 'tsx', thisFile, JSON.stringify(options)];
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

function fullGc(): void {
  // Twice: the first collection may leave objects with finalizers for the second.
  globalThis.gc?.();
  globalThis.gc?.();
}

async function main(): Promise<void> {
  const send = (message: FromChild): void => {
    process.send?.(message);
  };
  const options = JSON.parse(process.argv[2] ?? '{}') as NodeProcessOptions;
  // The node as it ships: from dist/, with the V8 setting `statehouse node` applies.
  const [{ startNode }, { tuneV8ForNodeProcess }] = await Promise.all([loadNode(), loadTuning()]);
  tuneV8ForNodeProcess();
  const node = await startNode({
    port: 0,
    logger: 'silent',
    ...(options.id !== undefined && { id: options.id }),
    ...(options.seeds !== undefined && { seeds: options.seeds }),
    ...(options.replicationFactor !== undefined && {
      replicationFactor: options.replicationFactor,
    }),
  });
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ToChild) => {
    if (message.type === 'sample') {
      if (message.gc) fullGc();
      const stats = node.stats();
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      send({
        type: 'sample',
        sample: {
          entries: stats.entries,
          primaryEntries: stats.primaryEntries,
          storeBytes: stats.bytes,
          rss: memory.rss,
          heapUsed: memory.heapUsed,
          external: memory.external,
          cpuMicros: cpu.user + cpu.system,
        },
      });
    } else if (message.type === 'stop') {
      void node.close().then(() => process.exit(0));
    }
  });
  send({ type: 'ready', address: node.address });
}

// Run as the child only when this file is the entry point, not when the bench imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error('node process failed:', error);
    process.exit(1);
  });
}
