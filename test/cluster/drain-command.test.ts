import test from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { connect } from '../../src/client/index.js';
import { eventually } from '../helpers/cluster.js';
import { cliMain, stopProcess } from '../helpers/processes.js';
import { ProcessCluster } from '../helpers/process-cluster.js';

async function run(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cliMain, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

async function threeNodes(t: { after: (fn: () => Promise<void>) => void }) {
  const cluster = await ProcessCluster.start({ size: 3, args: ['--partitions', '16'] });
  t.after(() => cluster.stop());
  await cluster.settled(3);
  const addresses = cluster.seeds();
  const processes = cluster.nodes.map((n) => n.child);
  const client = await connect({ seeds: addresses, timeoutMs: 5_000 });
  t.after(() => client.close());
  return { addresses, processes, client };
}

test('statehouse drain moves a node’s data away, and the drained node’s process exits', async (t) => {
  const { addresses, processes, client } = await threeNodes(t);
  for (let i = 0; i < 100; i++) await client.set(`k${i}`, i);
  const result = await run(['drain', 'n3', '--seeds', addresses[0]!]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^draining n3~[0-9a-f]+\ndrained n3~[0-9a-f]+\n$/);
  const drained = processes[2]!;
  // It may have exited before the command returned: the node stops once it holds nothing.
  if (drained.exitCode === null && drained.signalCode === null) await once(drained, 'exit');
  assert.equal(drained.exitCode, 0, 'the drained node exits cleanly');
  await eventually('two members, healthy', async () => {
    const s = await client.clusterStatus();
    return s.members.length === 2 && s.health === 'ok';
  });
  for (let i = 0; i < 100; i++) assert.equal(await client.get(`k${i}`), i);
});

test('SIGTERM drains a node of a cluster before its process exits', async (t) => {
  const { processes, client } = await threeNodes(t);
  for (let i = 0; i < 100; i++) await client.set(`k${i}`, i);
  assert.equal(await stopProcess(processes[1]!, 'SIGTERM'), 0);
  const gone = (await client.clusterStatus()).members.find((m) => m.id.startsWith('n2~'));
  assert.ok(gone === undefined || gone.copies === 0, 'it held nothing when it exited');
  await eventually('the cluster removed it', async () => {
    const s = await client.clusterStatus();
    return s.members.length === 2 && s.health === 'ok';
  });
  for (let i = 0; i < 100; i++) assert.equal(await client.get(`k${i}`), i);
});

test('draining an unknown node is refused with a clear error', async (t) => {
  const { addresses } = await threeNodes(t);
  const result = await run(['drain', 'nobody', '--seeds', addresses[0]!]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /BAD_REQUEST: no live member nobody to drain/);
});

test('statehouse drain of the last member says it stopped with its data, and exits 1', async (t) => {
  const cluster = await ProcessCluster.start({
    size: 1,
    args: ['--partitions', '16', '--replication-factor', '1'],
  });
  t.after(() => cluster.stop());
  await cluster.settled(1);
  const only = cluster.nodes[0]!.child;
  const result = await run(['drain', 'n1', '--seeds', cluster.seeds()[0]!, '--timeout', '2s']);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /was the last active member: it stopped, and its data with it/);
  if (only.exitCode === null && only.signalCode === null) await once(only, 'exit');
  assert.equal(only.exitCode, 0);
});
