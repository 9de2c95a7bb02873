/**
 * `npm start` (scripts/start-cluster.mjs, on the built CLI): three nodes that serve, that go on
 * serving when one of them is killed, and that all stop on Ctrl-C.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { connect } from '../../src/client/index.js';
import { eventually } from '../helpers/cluster.js';

const script = new URL('../../scripts/start-cluster.mjs', import.meta.url).pathname;

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port with the two after it free too. */
async function threeFreePorts(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(base)) && (await portFree(base + 1)) && (await portFree(base + 2)))
      return base;
  }
}

/** After the test, SIGKILLs `pids()` and then `child`, whatever the test left running. */
function killAtEnd(t: TestContext, child: ChildProcess, pids: () => Iterable<number>): void {
  t.after(() => {
    for (const pid of pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    if (child.exitCode === null) child.kill('SIGKILL');
  });
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there is none
  }
}

test('npm start runs three nodes that keep serving when one is killed, and stops them all on Ctrl-C', async (t) => {
  const base = await threeFreePorts();
  const cluster = spawn(process.execPath, [script], {
    env: { ...process.env, STATEHOUSE_PORT: String(base) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  cluster.stdout.on('data', (d: Buffer) => (output += d));
  cluster.stderr.on('data', (d: Buffer) => (output += d));
  let nodes: number[] = [];
  killAtEnd(t, cluster, () => new Set([...nodes, ...childPids(cluster.pid!)]));
  await eventually('the three nodes are running', async () =>
    output.includes('three nodes are running'),
  );
  nodes = childPids(cluster.pid!);
  assert.equal(nodes.length, 3, output);

  const seeds = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`);
  const client = await connect({ seeds, timeoutMs: 10_000 });
  t.after(() => client.close());
  await eventually('every partition has a primary', async () => {
    const status = await client.clusterStatus();
    return status.partitions.withoutPrimary === 0;
  });
  for (let i = 0; i < 20; i++) await client.set(`k${i}`, i);

  process.kill(nodes[2]!, 'SIGKILL');
  await eventually('the script reports the exit', async () => /still running/.test(output));
  for (let i = 0; i < 20; i++) await client.set(`after${i}`, i);
  for (let i = 0; i < 20; i++) assert.equal(await client.get(`after${i}`), i);
  assert.equal(childPids(cluster.pid!).length, 2, 'the other two nodes still run');

  cluster.kill('SIGINT');
  const [code] = (await once(cluster, 'exit')) as [number | null];
  assert.equal(code, 0, output);
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await eventually('no node is left running', () => nodes.every((pid) => !alive(pid)), 5_000);
});

test('npm start stops every node when the shell npm runs it in is terminated', async (t) => {
  // `npm start` runs `sh -c "npm run build --silent && node scripts/start-cluster.mjs"`, and on
  // SIGTERM (kill, a process manager) npm passes the signal to that shell only.
  const base = await threeFreePorts();
  const shell = spawn('sh', ['-c', `"${process.execPath}" "${script}" && true`], {
    env: { ...process.env, STATEHOUSE_PORT: String(base) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  shell.stdout.on('data', (d: Buffer) => (output += d));
  shell.stderr.on('data', (d: Buffer) => (output += d));
  let started: number[] = [];
  killAtEnd(t, shell, () => started);
  await eventually('the three nodes are running', async () =>
    output.includes('three nodes are running'),
  );
  const [cluster] = childPids(shell.pid!);
  const nodes = childPids(cluster!);
  started = [cluster!, ...nodes];
  assert.equal(nodes.length, 3, output);

  shell.kill('SIGTERM');
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await eventually(
    'neither the script nor a node is left running',
    () => started.every((pid) => !alive(pid)),
    10_000,
  );
});
