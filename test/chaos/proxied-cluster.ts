/**
 * An in-process cluster whose every connection crosses a fault proxy (fault-proxy.ts): node nK
 * on 127.0.0.(BASE+K), dialling from there, advertising its proxy. The same network as
 * `npm run chaos`, for fast regression tests of what the chaos run found. Closed after the test.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { startNode, type NodeOptions, type StateNode } from '../../src/node/index.js';
import { fastTiming } from '../helpers/cluster.js';
import { FaultNet, FaultProxy } from './fault-proxy.js';

export async function freePortOn(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Starts `size` nodes; `base` picks the address block, so tests running at once do not share
 * addresses (127.0.0.(base+1) and up).
 */
export async function startProxiedCluster(
  t: { after: (fn: () => Promise<void>) => void },
  size: number,
  base: number,
  options: NodeOptions = {},
): Promise<{ net: FaultNet; nodes: StateNode[]; proxies: FaultProxy[] }> {
  const net = new FaultNet();
  const nodes: StateNode[] = [];
  const proxies: FaultProxy[] = [];
  t.after(async () => {
    net.heal();
    await Promise.all(nodes.map((n) => n.close()));
    await Promise.all(proxies.map((p) => p.close()));
  });
  for (let i = 1; i <= size; i++) {
    const host = `127.0.0.${base + i}`;
    net.register(host, `n${i}`);
    // The node's port is chosen first: the leader dials a joiner before its start resolves.
    const port = await freePortOn(host);
    const proxy = await FaultProxy.start({ net, node: `n${i}`, host, target: { host, port } });
    proxies.push(proxy);
    nodes.push(
      await startNode({
        host,
        port,
        id: `n${i}`,
        advertise: proxy.address,
        localAddress: host,
        ...(i > 1 && { seeds: [proxies[0]!.address] }),
        ...fastTiming,
        ...options,
      }),
    );
  }
  return { net, nodes, proxies };
}

/**
 * Writes 32 keys (every partition of these small clusters) through the proxies of every node
 * but `excluded` (null: every node), and reads the last back: the cluster serves without it.
 */
export async function writesWithout(
  t: { after: (fn: () => Promise<void>) => void },
  proxies: readonly FaultProxy[],
  excluded: string | null,
): Promise<void> {
  const client = await connect({
    seeds: proxies.filter((p) => p.node !== excluded).map((p) => p.address),
    timeoutMs: 5_000,
  });
  t.after(() => client.close());
  for (let i = 0; i < 32; i++) await client.set(`k${i}`, i);
  assert.equal(await client.get('k31'), 31);
}
