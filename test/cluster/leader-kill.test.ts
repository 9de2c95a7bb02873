import test from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type ClusterStatusView } from '../../src/client/index.js';
import { eventually } from '../helpers/cluster.js';
import { freePort, spawnNode } from '../helpers/processes.js';

const spawnNodeLogged = (args: string[]): Promise<ChildProcess> =>
  spawnNode(['--log-level', 'info', ...args]);

async function statusFrom(address: string): Promise<ClusterStatusView | null> {
  try {
    const client = await connect({ seeds: address, timeoutMs: 1_000, connectTimeoutMs: 500 });
    try {
      return await client.clusterStatus({ timeoutMs: 1_000 });
    } finally {
      await client.close();
    }
  } catch {
    return null;
  }
}

test(
  'five node processes survive a SIGKILL of the Raft leader with a primary for every partition',
  { timeout: 120_000 },
  async (t) => {
    const ports = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    const processes = new Map<string, ChildProcess>();
    t.after(async () => {
      for (const child of processes.values()) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      }
    });
    const common = ['--partitions', '64', '--failure-timeout', '1s'];
    processes.set(
      addresses[0]!,
      await spawnNodeLogged(['--listen', addresses[0]!, '--id', 'n1', ...common]),
    );
    for (let i = 1; i < 5; i++) {
      processes.set(
        addresses[i]!,
        await spawnNodeLogged([
          '--listen',
          addresses[i]!,
          '--id',
          `n${i + 1}`,
          '--seeds',
          addresses[0]!,
          ...common,
        ]),
      );
    }

    let before: ClusterStatusView | null = null;
    await eventually(
      'five members, three voters, every partition replicated',
      async () => {
        before = await statusFrom(addresses[0]!);
        return (
          before !== null &&
          before.members.length === 5 &&
          before.members.filter((m) => m.role === 'voter').length === 3 &&
          before.health === 'ok' &&
          before.leader !== null
        );
      },
      30_000,
    );
    const leader = before!.members.find((m) => m.id === before!.leader)!;
    const victim = processes.get(leader.address)!;
    victim.kill('SIGKILL');
    await once(victim, 'exit');
    const survivors = addresses.filter((a) => a !== leader.address);

    let after: ClusterStatusView | null = null;
    await eventually(
      'a new leader, the old one dead and replaced, every partition with a primary and two copies',
      async () => {
        after = await statusFrom(survivors[0]!);
        if (after === null || after.leader === null || after.leader === leader.id) return false;
        const dead = after.members.find((m) => m.id === leader.id);
        return (
          dead?.state === 'dead' &&
          after.partitions.withoutPrimary === 0 &&
          after.partitions.underReplicated === 0 &&
          after.members.filter((m) => m.role === 'voter' && m.state !== 'dead').length === 3
        );
      },
      30_000,
    );
    // Every survivor agrees.
    for (const address of survivors) {
      const view = await statusFrom(address);
      assert.equal(view?.leader, after!.leader, `${address} sees another leader`);
      assert.equal(view?.partitions.withoutPrimary, 0);
    }
  },
);
