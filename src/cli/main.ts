#!/usr/bin/env node
/**
 * The `statehouse` command: run a node, or talk to a cluster.
 *
 * Exit codes: 0 done; 1 the operation failed (the message says why; `get` of an absent key
 * also exits 1, as `git config --get` does); 2 the command line is wrong.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { connect, type Client, type ClusterStatusView } from '../client/index.js';
import { ErrorCode, StatehouseError } from '../core/errors.js';
import { partitionCountDefault } from '../core/limits.js';
import { startNode } from '../node/index.js';
import { tuneV8ForNodeProcess } from '../node/v8-tuning.js';
import type { LogLevel } from '../node/logger.js';
import { parseDuration, parseSize } from './units.js';

class UsageError extends Error {}

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

const mainHelp = `statehouse ${version}: a replicated in-memory session-state store

Usage:
  statehouse node [--listen HOST:PORT] [options] run a node
  statehouse get KEY                             print a key's value (JSON)
  statehouse set KEY VALUE [--ttl DURATION]      write a JSON value
  statehouse del KEY                             delete a key
  statehouse ttl KEY                             print the remaining time to live
  statehouse touch KEY DURATION                  extend a key's expiry
  statehouse ping                                check that a node answers
  statehouse status [--json]                     members, leader, partitions, health
  statehouse drain NODE                          move a node's data away; it then stops
  statehouse accept-loss PARTITION... | --all    restart lost partitions empty

Options for every client command:
  --seeds HOST:PORT,...   nodes to contact (env STATEHOUSE_SEEDS; default 127.0.0.1:7400)
  --token-file FILE       file holding the clients' token (env STATEHOUSE_TOKEN)
  --cluster-token-file FILE  file holding the nodes' secret, which drain and accept-loss
                          need when the nodes were given one (env STATEHOUSE_CLUSTER_TOKEN);
                          a file named on the command line wins over either variable
  --timeout DURATION      deadline for the whole command, connecting included (default 5s;
                          drain then waits up to a minute for its copies to move)

Run 'statehouse COMMAND --help' for a command's options.`;

const nodeHelp = `Usage: statehouse node [--listen HOST:PORT] [options]

Runs a state node in the foreground. SIGTERM drains it (its data moves to the other nodes
first, as 'statehouse drain' does), then it exits; SIGINT (Ctrl-C), or a second signal,
stops it at once. Without --seeds, a node with no saved state founds a new cluster; with
--seeds it joins theirs, and takes the cluster's partition count.

Options:
  --listen HOST:PORT    address to listen on (default 127.0.0.1:7400)
  --advertise HOST:PORT address others reach this node at (default: the listen address)
  --local-address HOST  dial other nodes from this local address (default: the OS's choice)
  --id NAME             this node's name (default: random)
  --seeds HOST:PORT,... nodes of the cluster to join
  --data-dir DIR        keep the control-plane log here; a restart resumes its place
  --zone ZONE           failure domain: copies of a partition avoid sharing one
  --partitions N        partitions of a new cluster, fixed at creation (default ${partitionCountDefault});
                        a joining node takes its cluster's, and refuses another
  --replication-factor N copies of each partition in a new cluster (default 2)
  --failure-timeout DURATION  a node silent this long is declared dead (default 600ms)
  --lease DURATION      a primary serves this long after its copies last vouched for it
                        (default 400ms; at most the failure timeout / 1.2)
  --min-in-sync N       copies that must be in sync to accept a write (default 1; at most
                        the replication factor)
  --fence               a primary also needs the control-plane leader's grant: cut off
                        from the majority, it stops serving within 2 s, so accept-loss
                        there is safe even while its process lives; its partitions stop
                        for the cut. Give it to every node
  --max-memory SIZE     memory limit for entries, e.g. 512mb (default: none)
  --max-key SIZE        largest key (default 1kb)
  --max-value SIZE      largest value (default 1mb)
  --token-file FILE     require clients to present the token in FILE (env STATEHOUSE_TOKEN)
  --cluster-token-file FILE  the secret the nodes share (env STATEHOUSE_CLUSTER_TOKEN):
                        only it admits a node and drains or accepts loss; clients' token
                        then reads and writes data only. Without it, --token-file does all
  --log-level LEVEL     fatal, error, warn, info, debug, trace or silent (default info)`;

const clientHelp: Record<string, string> = {
  'accept-loss':
    "Usage: statehouse accept-loss PARTITION... | --all [--seeds ...]\n\nA partition whose primary and every in-sync copy are lost is stuck: it answers\nUNAVAILABLE rather than come back with older data. Its data is gone; this restarts it\nempty on a node that held no copy of it, so it takes writes again. `statehouse status`\nlists the stuck partitions. --all restarts every stuck partition. Partitions that are\nnot stuck are refused and left alone. It first waits out every leader grant the lost\ncopies may hold (about 2.4 s past their last one). Without --fence on the nodes, run it\nonly once the old primary's process is gone: cut off, it may still be serving.",
  drain:
    'Usage: statehouse drain NODE [--seeds ...]\n\nDrains NODE (its name or member id): the cluster hands its primaries to in-sync\nbackups and copies its data to other nodes, while serving every request; then NODE\nleaves the cluster and its process stops. Waits up to a minute for the drain to finish.\nSending the node SIGTERM does the same.',
  get: 'Usage: statehouse get KEY [--any] [--seeds ...]\n\nPrints the value as JSON; exits 1 when the key is absent.\n  --any   read from any replica (may be stale)',
  set: 'Usage: statehouse set KEY VALUE [--ttl DURATION] [--if-absent] [--async] [--seeds ...]\n\nVALUE is JSON (a bare word that is not JSON is taken as a string).\n  --ttl DURATION   expire after e.g. 30s, 20m, 1h\n  --if-absent      write only if the key does not exist\n  --async          answer once the primary applied it',
  del: 'Usage: statehouse del KEY [--seeds ...]\n\nDeletes a key; prints 1 if it existed, 0 otherwise.',
  ttl: 'Usage: statehouse ttl KEY [--seeds ...]\n\nPrints the remaining milliseconds, "none" when the key never expires; exits 1 when absent.',
  touch:
    'Usage: statehouse touch KEY DURATION [--seeds ...]\n\nSets the key to expire DURATION from now; exits 1 when absent.',
  ping: 'Usage: statehouse ping [--seeds ...]\n\nPrints the id of the node that answered.',
  status:
    'Usage: statehouse status [--json] [--linearizable] [--seeds ...]\n\nPrints the members, the control-plane leader, primaries and copies per node, and\nthe health of the partition table. --json prints the same as one JSON document.\n--linearizable first confirms with the control plane quorum that the answer is current.',
};

const clientOptions = {
  seeds: { type: 'string' },
  'token-file': { type: 'string' },
  'cluster-token-file': { type: 'string' },
  timeout: { type: 'string' },
  ttl: { type: 'string' },
  'if-absent': { type: 'boolean' },
  async: { type: 'boolean' },
  any: { type: 'boolean' },
  json: { type: 'boolean' },
  linearizable: { type: 'boolean' },
  all: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const nodeOptions = {
  listen: { type: 'string' },
  advertise: { type: 'string' },
  'local-address': { type: 'string' },
  id: { type: 'string' },
  seeds: { type: 'string' },
  'data-dir': { type: 'string' },
  zone: { type: 'string' },
  'replication-factor': { type: 'string' },
  'failure-timeout': { type: 'string' },
  lease: { type: 'string' },
  'min-in-sync': { type: 'string' },
  fence: { type: 'boolean' },
  partitions: { type: 'string' },
  'max-memory': { type: 'string' },
  'max-key': { type: 'string' },
  'max-value': { type: 'string' },
  'token-file': { type: 'string' },
  'cluster-token-file': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function usageValue<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function readToken(
  file: string | undefined,
  flag = '--token-file',
  env = 'STATEHOUSE_TOKEN',
): string | undefined {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new UsageError(
        `cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  const fromEnv = process.env[env];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/**
 * The token a client command presents: a file given on the command line before either
 * variable; for membership commands (drain, accept-loss) the nodes' secret first, for data
 * commands the clients' token first (the nodes take either for data).
 */
function tokenFor(
  membership: boolean,
  tokenFile: string | undefined,
  clusterTokenFile: string | undefined,
): string | undefined {
  if (membership) {
    if (clusterTokenFile !== undefined) return readClusterToken(clusterTokenFile);
    if (tokenFile !== undefined) return readToken(tokenFile);
    return readClusterToken(undefined) ?? readToken(undefined);
  }
  if (tokenFile !== undefined) return readToken(tokenFile);
  if (clusterTokenFile !== undefined) return readClusterToken(clusterTokenFile);
  return readToken(undefined) ?? readClusterToken(undefined);
}

function readClusterToken(file: string | undefined): string | undefined {
  return readToken(file, '--cluster-token-file', 'STATEHOUSE_CLUSTER_TOKEN');
}

function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} must be HOST:PORT, e.g. 127.0.0.1:7400; got '${text}'`);
  }
  return { host: match[1], port };
}

/** The status as a person reads it: a member table, then the partition summary. */
function formatStatus(status: ClusterStatusView): string {
  const rows = status.members.map((m) => [
    m.name,
    m.id,
    m.address,
    m.zone ?? '-',
    m.state,
    m.id === status.leader ? 'leader' : m.role,
    String(m.primaries),
    String(m.copies),
  ]);
  const header = ['NAME', 'MEMBER', 'ADDRESS', 'ZONE', 'STATE', 'RAFT', 'PRIMARIES', 'COPIES'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const p = status.partitions;
  return [
    `cluster ${status.clusterId ?? '(none)'}  term ${status.term}  leader ${status.leader ?? '(none)'}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `partitions ${p.total}: ${p.withoutPrimary} without primary, ${p.underReplicated} under-replicated`,
    ...(p.stuck.length > 0
      ? [`stuck (primary and every in-sync copy lost): ${p.stuck.join(' ')}; see accept-loss`]
      : []),
    `health ${status.health}`,
  ].join('\n');
}

const logLevels: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/**
 * A count given as a flag, in decimal digits only: Number() would also take 1e3, 0x10, 2.0
 * and ' 5', none of which anyone means as a count.
 */
function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^[1-9][0-9]*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
  }
  return n;
}

async function runNode(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, nodeOptions);
  if (values.help) {
    console.log(nodeHelp);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const { host, port } = parseListen(values.listen ?? '127.0.0.1:7400');
  const partitions = positiveInteger('--partitions', values.partitions);
  const replicationFactor = positiveInteger('--replication-factor', values['replication-factor']);
  const minInSync = positiveInteger('--min-in-sync', values['min-in-sync']);
  const seeds = values.seeds === undefined ? [] : values.seeds.split(',').map((s) => s.trim());
  for (const seed of seeds) parseListen(seed, '--seeds');
  const logLevel = (values['log-level'] ?? 'info') as LogLevel;
  if (!logLevels.includes(logLevel))
    throw new UsageError(`--log-level must be one of ${logLevels.join(', ')}`);
  const token = readToken(values['token-file']);
  const clusterToken = readClusterToken(values['cluster-token-file']);
  tuneV8ForNodeProcess();
  const node = await startNode({
    host,
    port,
    logger: logLevel,
    ...(values.id !== undefined && { id: values.id }),
    ...(seeds.length > 0 && { seeds }),
    ...(values['data-dir'] !== undefined && { dataDir: values['data-dir'] }),
    ...(values.zone !== undefined && { zone: values.zone }),
    ...(values.advertise !== undefined && { advertise: values.advertise }),
    ...(values['local-address'] !== undefined && { localAddress: values['local-address'] }),
    ...(replicationFactor !== undefined && { replicationFactor }),
    ...(minInSync !== undefined && { minInSync }),
    ...(values['failure-timeout'] !== undefined && {
      failureTimeoutMs: usageValue(() => parseDuration(values['failure-timeout']!)),
    }),
    ...(values.lease !== undefined && {
      leaseMs: usageValue(() => parseDuration(values.lease!)),
    }),
    ...(values.fence === true && { fence: true }),
    ...(partitions !== undefined && { partitions }),
    ...(values['max-memory'] !== undefined && {
      maxMemoryBytes: usageValue(() => parseSize(values['max-memory']!)),
    }),
    ...(values['max-key'] !== undefined && {
      keyBytesMax: usageValue(() => parseSize(values['max-key']!)),
    }),
    ...(values['max-value'] !== undefined && {
      valueBytesMax: usageValue(() => parseSize(values['max-value']!)),
    }),
    ...(token !== undefined && { token }),
    ...(clusterToken !== undefined && { clusterToken }),
  }).catch((error: unknown) => {
    // Options that are each well-formed but do not fit together (a lease longer than the
    // failure timeout allows, another partition count than the cluster's): bad usage too.
    if (error instanceof StatehouseError && error.code === ErrorCode.BAD_REQUEST) {
      throw new UsageError(error.message);
    }
    throw error;
  });
  // SIGTERM (what orchestrators send) drains: the node's partitions move away first, so no
  // client request fails. SIGINT (Ctrl-C) stops at once; a second signal of either kind too.
  await new Promise<void>((resolve, reject) => {
    const stopNow = (): void => {
      process.off('SIGTERM', drain);
      process.off('SIGINT', stopNow);
      process.off('SIGTERM', stopNow);
      void node.close().then(resolve);
    };
    const drain = (): void => {
      process.off('SIGTERM', drain);
      process.on('SIGTERM', stopNow);
      void node.drain().then(resolve);
    };
    process.on('SIGTERM', drain);
    process.on('SIGINT', stopNow);
    // Drained by `statehouse drain`: the node closes itself, and the process ends. Stopped
    // because another process took its data dir: it ends too, exit 1 with the error.
    const settle = (): void => {
      process.off('SIGTERM', drain);
      process.off('SIGINT', stopNow);
    };
    node.closed.then(
      () => {
        settle();
        resolve();
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
  return 0;
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** How long `statehouse drain` waits for the data to move before it reports and exits. */
const drainWaitMs = 60_000;

/** The flags each client command takes besides the connection's (seeds, tokens, timeout). */
const commandFlags: Record<string, readonly string[]> = {
  get: ['any'],
  set: ['ttl', 'if-absent', 'async'],
  status: ['json', 'linearizable'],
  'accept-loss': ['all'],
};
const connectionFlags: readonly string[] = [
  'seeds',
  'token-file',
  'cluster-token-file',
  'timeout',
  'help',
];

async function runClient(command: string, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, clientOptions);
  if (values.help) {
    console.log(clientHelp[command]);
    return 0;
  }
  // One table parses every command's flags; a flag of another command would be ignored.
  for (const flag of Object.keys(values)) {
    if (!connectionFlags.includes(flag) && !(commandFlags[command] ?? []).includes(flag)) {
      throw new UsageError(`${command} does not take --${flag}\n\n${clientHelp[command]}`);
    }
  }
  const arity: Record<string, number> = {
    get: 1,
    set: 2,
    del: 1,
    ttl: 1,
    touch: 2,
    ping: 0,
    status: 0,
    drain: 1,
  };
  if (command === 'accept-loss') {
    if (values.all === true ? positionals.length > 0 : positionals.length === 0)
      throw new UsageError(
        `accept-loss takes partition numbers or --all\n\n${clientHelp[command]}`,
      );
    for (const p of positionals)
      if (!/^\d+$/.test(p)) throw new UsageError(`not a partition number: ${p}`);
  }
  const expected = command === 'accept-loss' ? positionals.length : arity[command]!;
  if (positionals.length !== expected) {
    throw new UsageError(
      `${command} takes ${expected} argument${expected === 1 ? '' : 's'}, got ${positionals.length}\n\n${clientHelp[command]}`,
    );
  }
  const seeds = values.seeds ?? process.env['STATEHOUSE_SEEDS'] ?? '127.0.0.1:7400';
  const timeoutMs =
    values.timeout === undefined ? 5_000 : usageValue(() => parseDuration(values.timeout!));
  const ttlMs = values.ttl === undefined ? undefined : usageValue(() => parseDuration(values.ttl!));
  // Read before connecting: bad usage is exit 2 whether or not a node answers.
  const touchMs =
    command === 'touch' ? usageValue(() => parseDuration(positionals[1]!)) : undefined;
  const token = tokenFor(
    command === 'drain' || command === 'accept-loss',
    values['token-file'],
    values['cluster-token-file'],
  );
  // One deadline for the command: connect() keeps within timeoutMs, and the call after it gets
  // what is left.
  const deadline = Date.now() + timeoutMs;
  const left = (): { timeoutMs: number } => ({ timeoutMs: Math.max(1, deadline - Date.now()) });
  let client: Client;
  try {
    client = await connect({
      seeds,
      timeoutMs,
      connectTimeoutMs: Math.min(timeoutMs, 2_000),
      name: 'statehouse-cli',
      ...(token !== undefined && { token }),
    });
  } catch (error) {
    if (error instanceof StatehouseError && error.code === 'BAD_REQUEST')
      throw new UsageError(error.message);
    throw error;
  }
  try {
    const key = positionals[0]!;
    switch (command) {
      case 'get': {
        const value = await client.get(key, { ...left(), ...(values.any && { readFrom: 'any' }) });
        if (value === null) {
          console.error(`(not found) ${key}`);
          return 1;
        }
        console.log(JSON.stringify(value));
        return 0;
      }
      case 'set': {
        const version = await client.set(key, parseValue(positionals[1]!), {
          ...left(),
          ...(ttlMs !== undefined && { ttlMs }),
          ...(values['if-absent'] && { ifAbsent: true }),
          ...(values.async && { durability: 'async' as const }),
        });
        console.log(`OK version ${version}`);
        return 0;
      }
      case 'del':
        console.log((await client.delete(key, left())) ? '1' : '0');
        return 0;
      case 'ttl': {
        const ttl = await client.ttl(key, left());
        if (ttl === undefined) {
          console.error(`(not found) ${key}`);
          return 1;
        }
        console.log(ttl === null ? 'none' : String(ttl));
        return 0;
      }
      case 'touch': {
        const found = await client.touch(key, touchMs!, left());
        if (!found) {
          console.error(`(not found) ${key}`);
          return 1;
        }
        console.log('OK');
        return 0;
      }
      case 'ping':
        console.log(await client.ping(left()));
        return 0;
      case 'status': {
        const status = await client.clusterStatus({
          ...left(),
          ...(values.linearizable && { linearizable: true }),
        });
        console.log(values.json ? JSON.stringify(status, null, 2) : formatStatus(status));
        return status.health === 'ok' ? 0 : 1;
      }
      case 'drain': {
        // A drain is a wait by nature: each of its steps gets the full --timeout.
        const before = await client.clusterStatus({ timeoutMs });
        const target = before.members.find((m) => m.id === key || m.name === key);
        const othersActive = before.members.some((m) => m !== target && m.state === 'active');
        // The last active member gives its drain up and stops: nobody is left to answer.
        const stoppedAlone = (error: unknown): boolean =>
          !othersActive &&
          error instanceof StatehouseError &&
          (error.code === ErrorCode.CONNECTION_CLOSED ||
            error.code === ErrorCode.UNAVAILABLE ||
            error.code === ErrorCode.TIMEOUT);
        const lastMemberStopped = (): number => {
          console.error(
            `${target?.id ?? key} was the last active member: it stopped, and its data with it (nobody was left to take it)`,
          );
          return 1;
        };
        let memberId: string;
        try {
          memberId = await client.drain(key, { timeoutMs });
        } catch (error) {
          if (stoppedAlone(error)) return lastMemberStopped();
          throw error;
        }
        console.log(`draining ${memberId}`);
        const deadline = Date.now() + drainWaitMs;
        for (;;) {
          let status: ClusterStatusView;
          try {
            status = await client.clusterStatus({ timeoutMs });
          } catch (error) {
            if (stoppedAlone(error)) return lastMemberStopped();
            throw error;
          }
          const member = status.members.find((m) => m.id === memberId);
          if (member === undefined || member.copies === 0) break;
          if (Date.now() > deadline) {
            console.error(`${memberId} still holds ${member.copies} copies; the drain goes on`);
            return 1;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        console.log(`drained ${memberId}`);
        return 0;
      }
      case 'accept-loss': {
        const result = await client.acceptLoss(
          values.all === true ? undefined : positionals.map(Number),
          left(),
        );
        for (const { partition, primary } of result.accepted)
          console.log(`partition ${partition}: restarted empty, primary ${primary}`);
        for (const { partition, reason } of result.refused)
          console.error(`partition ${partition}: refused: ${reason}`);
        if (result.accepted.length === 0 && result.refused.length === 0)
          console.log('no partition is stuck');
        return result.refused.length > 0 ? 1 : 0;
      }
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } finally {
    await client.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      console.log(mainHelp);
      return command === undefined ? 2 : 0;
    }
    if (command === '--version' || command === '-v') {
      console.log(version);
      return 0;
    }
    if (command === 'node') return await runNode(rest);
    if (command in clientHelp) return await runClient(command, rest);
    throw new UsageError(`unknown command '${command}'\n\n${mainHelp}`);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`statehouse: ${error.message}`);
      return 2;
    }
    if (error instanceof StatehouseError) {
      console.error(`statehouse: ${error.code}: ${error.message}`);
      return 1;
    }
    console.error(`statehouse: ${(error as Error).stack ?? String(error)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
