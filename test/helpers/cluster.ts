import { startNode, type NodeOptions, type StateNode } from '../../src/node/index.js';

/** Fast failure detection for tests: a tick of 20 ms, an election timeout of 200 ms. */
export const fastTiming: NodeOptions = { tickMs: 20, failureTimeoutMs: 600 };

/** Polls `check` until it returns true or `timeoutMs` passes; then throws with `what`. */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts a founder and `size - 1` joiners on loopback; closes them all after the test. */
export async function startCluster(
  t: { after: (fn: () => Promise<void>) => void },
  size: number,
  options: NodeOptions = {},
): Promise<StateNode[]> {
  const nodes: StateNode[] = [];
  t.after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });
  nodes.push(await startNode({ port: 0, id: 'n1', ...fastTiming, ...options }));
  for (let i = 2; i <= size; i++) {
    nodes.push(
      await startNode({
        port: 0,
        id: `n${i}`,
        seeds: [nodes[0]!.address],
        ...fastTiming,
        ...options,
      }),
    );
  }
  return nodes;
}

const spread = (values: number[]): number => Math.max(...values) - Math.min(...values);

/** True when the node sees `members` active members and every partition with a primary and all its copies. */
export function replicated(node: StateNode, members: number): boolean {
  const s = node.status();
  return (
    s.members.filter((m) => m.state === 'active').length === members &&
    s.partitions.withoutPrimary === 0 &&
    s.partitions.underReplicated === 0
  );
}

/**
 * True when the node's view has `members` live members, every partition with a primary and
 * fully replicated, and primaries and copies balanced within one: placement has settled.
 */
export function converged(node: StateNode, members: number): boolean {
  const s = node.status();
  const live = s.members.filter((m) => m.state !== 'dead');
  return (
    live.length === members &&
    s.partitions.withoutPrimary === 0 &&
    s.partitions.underReplicated === 0 &&
    spread(live.map((m) => m.copies)) <= 1 &&
    spread(live.map((m) => m.primaries)) <= 1
  );
}
