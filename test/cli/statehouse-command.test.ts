import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cliMain, freePort, spawnNode, stopProcess } from '../helpers/processes.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const main = cliMain;

/**
 * Runs the command and resolves with its exit code and output. A command still running after
 * `killAfterMs` (a node that should have refused to start) is killed by its pid; its code is
 * then -1.
 */
function run(
  args: string[],
  env: Record<string, string> = {},
  killAfterMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
      env: { ...process.env, ...env },
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const startNodeProcess = (args: string[]): Promise<ChildProcess> => spawnNode(args, 10_000);
const stop = (child: ChildProcess): Promise<number | null> => stopProcess(child);

test('set, get, ttl, touch and del work against a node started by the command', async (t) => {
  const port = await freePort();
  const node = await startNodeProcess([
    '--listen',
    `127.0.0.1:${port}`,
    '--id',
    'cli-test',
    '--log-level',
    'info',
  ]);
  t.after(() => stop(node));
  const seeds = ['--seeds', `127.0.0.1:${port}`];
  assert.match(
    (await run(['set', 'greeting', '{"hello":"world"}', ...seeds])).stdout,
    /^OK version \d+/,
  );
  assert.deepEqual(await run(['get', 'greeting', ...seeds]), {
    code: 0,
    stdout: '{"hello":"world"}\n',
    stderr: '',
  });
  assert.equal((await run(['ttl', 'greeting', ...seeds])).stdout, 'none\n');
  assert.equal((await run(['touch', 'greeting', '1h', ...seeds])).code, 0);
  const ttl = Number((await run(['ttl', 'greeting', ...seeds])).stdout);
  assert.ok(ttl > 3_500_000 && ttl <= 3_600_000);
  assert.equal((await run(['set', 'word', 'plain-text', '--ttl', '30s', ...seeds])).code, 0);
  assert.equal((await run(['get', 'word', ...seeds])).stdout, '"plain-text"\n');
  assert.match((await run(['ping', ...seeds])).stdout, /^cli-test~[0-9a-f]+\n$/);
  assert.equal((await run(['del', 'greeting', ...seeds])).stdout, '1\n');
  const missing = await run(['get', 'greeting', ...seeds]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not found/);
  assert.equal(await stopProcess(node, 'SIGTERM'), 0, 'SIGTERM stops a lone node cleanly');
});

/**
 * A node started by the command with its secrets in files: `--token-file` holding `token`,
 * and `--cluster-token-file` holding `clusterToken` when given. Resolves to its seeds flag
 * and the token file's path; the node and the files go after the test.
 */
async function nodeWithTokens(
  t: TestContext,
  tokens: { token: string; clusterToken?: string },
): Promise<{ seeds: string[]; tokenFile: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  const clusterTokenFile = join(dir, 'cluster-token');
  writeFileSync(tokenFile, `${tokens.token}\n`);
  const args = ['--listen', `127.0.0.1:${port}`, '--token-file', tokenFile];
  if (tokens.clusterToken !== undefined) {
    writeFileSync(clusterTokenFile, `${tokens.clusterToken}\n`);
    args.push('--cluster-token-file', clusterTokenFile);
  }
  const node = await startNodeProcess(args);
  t.after(() => stop(node));
  return { seeds: ['--seeds', `127.0.0.1:${port}`], tokenFile };
}

test('a node that requires a token refuses the command without it', async (t) => {
  const { seeds, tokenFile } = await nodeWithTokens(t, { token: 'hunter2' });
  const refused = await run(['get', 'k', ...seeds]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /UNAUTHORIZED/);
  const accepted = await run(['set', 'k', '1', ...seeds], { STATEHOUSE_TOKEN: 'hunter2' });
  assert.equal(accepted.code, 0, accepted.stderr);
  // A file named on the command line wins over a variable left in the environment.
  const named = await run(['accept-loss', '--all', ...seeds, '--token-file', tokenFile], {
    STATEHOUSE_CLUSTER_TOKEN: 'another-clusters-secret',
  });
  assert.equal(named.code, 0, named.stderr);
});

test("with a cluster token, accept-loss needs it and the clients' token only reads and writes", async (t) => {
  const { seeds, tokenFile } = await nodeWithTokens(t, {
    token: 'web-apps',
    clusterToken: 'nodes-only',
  });
  const asClient = ['--token-file', tokenFile];
  assert.equal((await run(['set', 'k', '1', ...seeds, ...asClient])).code, 0);
  const refused = await run(['accept-loss', '--all', ...seeds, ...asClient]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /UNAUTHORIZED.*cluster token/);
  const accepted = await run(['accept-loss', '--all', ...seeds], {
    STATEHOUSE_CLUSTER_TOKEN: 'nodes-only',
  });
  assert.equal(accepted.code, 0, accepted.stderr);
});

test('an address in use is reported clearly with a non-zero exit', async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as { port: number }).port;
  const result = await run(['node', '--listen', `127.0.0.1:${port}`, '--log-level', 'silent']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /already in use/);
});

test('bad flags exit 2 with a message naming the problem', async () => {
  const unknown = await run(['node', '--bogus']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /bogus/);
  const listen = await run(['node', '--listen', 'nowhere']);
  assert.equal(listen.code, 2);
  assert.match(listen.stderr, /--listen must be HOST:PORT/);
  const seeds = await run(['node', '--listen', '127.0.0.1:0', '--seeds', 'bad']);
  assert.equal(seeds.code, 2);
  assert.match(seeds.stderr, /--seeds must be HOST:PORT/);
  const misfit = await run([
    'node',
    '--listen',
    '127.0.0.1:0',
    '--failure-timeout',
    '1s',
    '--lease',
    '2s',
  ]);
  assert.equal(misfit.code, 2);
  assert.match(misfit.stderr, /leaseMs \(2000\)/);
  const memory = await run(['node', '--max-memory', 'lots']);
  assert.equal(memory.code, 2);
  assert.match(memory.stderr, /not a size/);
  const arity = await run(['set', 'only-key']);
  assert.equal(arity.code, 2);
  const acceptNothing = await run(['accept-loss']);
  assert.equal(acceptNothing.code, 2);
  assert.match(acceptNothing.stderr, /partition numbers or --all/);
  const acceptWord = await run(['accept-loss', 'seven']);
  assert.equal(acceptWord.code, 2);
  assert.match(acceptWord.stderr, /not a partition number: seven/);
  const command = await run(['frobnicate']);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /unknown command 'frobnicate'/);
});

test('--help prints usage for the command and every subcommand', async () => {
  const top = await run(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /statehouse node \[--listen HOST:PORT\]/);
  for (const command of ['node', 'get', 'set', 'del', 'ttl', 'touch', 'ping', 'accept-loss']) {
    const help = await run([command, '--help']);
    assert.equal(help.code, 0, command);
    assert.match(help.stdout, /^Usage: statehouse /, command);
  }
});

test('a node given an empty --zone refuses to start with exit 2, naming the option', async () => {
  const result = await run(
    ['node', '--listen', '127.0.0.1:0', '--zone', '', '--log-level', 'silent'],
    {},
    10_000,
  );
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /zone/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
});

test('a node refuses a count written other than in decimal digits (1e3, 0x10, 2.0) with exit 2', async () => {
  // Number() takes all of these, and 1e3 partitions is not what anyone types on purpose.
  for (const [flag, value] of [
    ['--partitions', '1e3'],
    ['--replication-factor', '0x2'],
    ['--min-in-sync', '2.0'],
  ]) {
    const result = await run(
      ['node', '--listen', '127.0.0.1:0', flag!, value!, '--log-level', 'silent'],
      {},
      10_000,
    );
    assert.equal(result.code, 2, `${flag} ${value}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`${flag!.slice(2)} must be a positive integer`));
  }
});

test('a node founding a cluster with --min-in-sync above --replication-factor refuses to start with exit 2', async () => {
  // Every write would be refused UNAVAILABLE for as long as the cluster ran.
  const result = await run(
    [
      'node',
      '--listen',
      '127.0.0.1:0',
      '--replication-factor',
      '2',
      '--min-in-sync',
      '3',
      '--log-level',
      'silent',
    ],
    {},
    10_000,
  );
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /minInSync \(3\) must not exceed the replicationFactor \(2\)/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
});

test('--timeout bounds the whole command, connecting included, against a node that never answers', async (t) => {
  // A node that takes connections and says nothing (frozen): the command's wait is measured
  // from its first connection, so the CLI's own start-up time does not count.
  let firstConnectionAt = 0;
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    firstConnectionAt ||= Date.now();
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const address = silent.address() as AddressInfo;
  const result = await run(['get', 'k', '--seeds', `127.0.0.1:${address.port}`, '--timeout', '3s']);
  const waitedMs = Date.now() - firstConnectionAt;
  assert.equal(result.code, 1, result.stderr);
  assert.ok(firstConnectionAt > 0, 'the command never connected');
  // Before, connecting alone could take the 2 s connect budget on top of the 3 s.
  assert.ok(waitedMs < 4_200, `waited ${waitedMs} ms after connecting with --timeout 3s`);
});

test('a node given an --advertise that is not HOST:PORT refuses to start with exit 2', async () => {
  const result = await run(
    ['node', '--listen', '127.0.0.1:0', '--advertise', 'bogus', '--log-level', 'silent'],
    {},
    10_000,
  );
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /advertise.*'bogus'/);
});

test('a --data-dir that is a file is reported in one line with exit 1, without a stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'statehouse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, '');
  const result = await run(
    ['node', '--listen', '127.0.0.1:0', '--data-dir', file, '--log-level', 'silent'],
    {},
    10_000,
  );
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /not-a-dir/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
});

test('touch with a duration that is not one exits 2 even when no node answers', async () => {
  const port = await freePort();
  const result = await run(['touch', 'k', 'soon', '--seeds', `127.0.0.1:${port}`]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /'soon' is not a duration/);
});

test('a flag of another command is refused with exit 2, not ignored', async () => {
  const port = await freePort();
  const result = await run(['get', 'k', '--ttl', '30s', '--seeds', `127.0.0.1:${port}`]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /--ttl/);
});
