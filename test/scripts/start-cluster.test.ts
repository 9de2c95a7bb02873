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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `command` (the cluster script, directly or under a shell) on three free ports from
 * `base`, and waits until it says the three nodes run. Whatever `pids()` names, and the child,
 * are SIGKILLed when the test ends.
 */
async function startScript(
  t: TestContext,
  command: string,
  args: string[],
  pids: (child: ChildProcess) => Iterable<number>,
): Promise<{ child: ChildProcess; base: number; output: () => string }> {
  const base = await threeFreePorts();
  const child = spawn(command, args, {
    env: { ...process.env, STATEHOUSE_PORT: String(base) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  killAtEnd(t, child, () => pids(child));
  await eventually('the three nodes are running', async () =>
    output.includes('three nodes are running'),
  );
  return { child, base, output: () => output };
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
  let nodes: number[] = [];
  const {
    child: cluster,
    base,
    output,
  } = await startScript(t, process.execPath, [script], (child) => [
    ...new Set([...nodes, ...childPids(child.pid!)]),
  ]);
  nodes = childPids(cluster.pid!);
  assert.equal(nodes.length, 3, output());

  const seeds = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`);
  const client = await connect({ seeds, timeoutMs: 10_000 });
  t.after(() => client.close());
  await eventually('every partition has a primary', async () => {
    const status = await client.clusterStatus();
    return status.partitions.withoutPrimary === 0;
  });
  for (let i = 0; i < 20; i++) await client.set(`k${i}`, i);

  process.kill(nodes[2]!, 'SIGKILL');
  await eventually('the script reports the exit', async () => /still running/.test(output()));
  for (let i = 0; i < 20; i++) await client.set(`after${i}`, i);
  for (let i = 0; i < 20; i++) assert.equal(await client.get(`after${i}`), i);
  assert.equal(childPids(cluster.pid!).length, 2, 'the other two nodes still run');

  cluster.kill('SIGINT');
  const [code] = (await once(cluster, 'exit')) as [number | null];
  assert.equal(code, 0, output());
  await eventually('no node is left running', () => nodes.every((pid) => !alive(pid)), 5_000);
});

test('npm start stops every node when the shell npm runs it in is terminated', async (t) => {
  // `npm start` runs `sh -c "npm run build --silent && node scripts/start-cluster.mjs"`, and on
  // SIGTERM (kill, a process manager) npm passes the signal to that shell only.
  let started: number[] = [];
  const { child: shell, output } = await startScript(
    t,
    'sh',
    ['-c', `"${process.execPath}" "${script}" && true`],
    () => started,
  );
  const [cluster] = childPids(shell.pid!);
  const nodes = childPids(cluster!);
  started = [cluster!, ...nodes];
  assert.equal(nodes.length, 3, output());

  shell.kill('SIGTERM');
  await eventually(
    'neither the script nor a node is left running',
    () => started.every((pid) => !alive(pid)),
    10_000,
  );
});
