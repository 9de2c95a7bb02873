import { startNode, type NodeOptions, type StateNode } from '../../src/node/index.js';
import { connect, type Client, type ClientOptions } from '../../src/client/index.js';

/** Starts a node on a free loopback port for one test, and a client to it; closes both after. */
export async function withNode(
  t: { after: (fn: () => Promise<void>) => void },
  options: NodeOptions = {},
  clientOptions: Partial<ClientOptions> = {},
): Promise<{ node: StateNode; client: Client }> {
  const node = await startNode({ port: 0, ...options });
  const client = await connect({
    seeds: node.address,
    ...(options.token && { token: options.token }),
    ...clientOptions,
  });
  t.after(async () => {
    await client.close();
    await node.close();
  });
  return { node, client };
}
