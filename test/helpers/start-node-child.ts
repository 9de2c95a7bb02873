/**
 * Starts one node with the options given as JSON in argv[2] and prints one line,
 * `STARTED <memberId> <clusterId>` or `FAILED <code> <message>`, then closes it. Run in a
 * child process, so that a test can give up on a start that hangs and kill it.
 */
import { startNode } from '../../src/node/index.js';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startNode>[0];
try {
  const node = await startNode(options);
  console.log(`STARTED ${node.memberId} ${node.status().clusterId}`);
  await node.close();
} catch (error) {
  console.log(`FAILED ${(error as { code?: string }).code} ${(error as Error).message}`);
}
process.exit(0);
