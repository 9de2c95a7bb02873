/**
 * A primary paused (SIGSTOP) past the failure timeout, then woken (SIGCONT), under load.
 *
 * While it sleeps the cluster promotes its in-sync backups, and a writer moves its keys on.
 * A second client keeps the old table and keeps reading those keys from the sleeper: its
 * reads queue up in the sleeper's socket. When it wakes, it finds them before it learns of the
 * new epoch. Without leases it would answer them from its old copy: reads invoked after a
 * newer write was acknowledged, returning an older value. The test requires that no read
 * returns a value older than one acknowledged before the read was invoked, that every
 * acknowledged write survives, and that the woken node serves again once current.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClusterStatusView } from '../../src/client/index.js';
import { partitionOf } from '../../src/core/keys.js';
import { encodeRequest } from '../../src/protocol/index.js';
import { requestOnce } from '../../src/node/request-once.js';
import { eventually } from '../helpers/cluster.js';
import { ProcessCluster } from '../helpers/process-cluster.js';

const partitions = 16;

async function primaries(address: string): Promise<string[]> {
  const reply = await requestOnce({
    address,
    clientName: 'sigstop-test',
    clientId: 'sigstop-test',
    timeoutMs: 2_000,
    encode: (id) => encodeRequest({ kind: 'table', id }),
  });
  assert.ok(reply.ok);
  const table = reply.result as { nodes: { address: string }[]; primaries: number[] };
  return table.primaries.map((i) => table.nodes[i]?.address ?? '');
}

test(
  'a primary paused past the failure timeout serves nothing from its old epoch when it wakes',
  { timeout: 120_000 },
  async (t) => {
    const cluster = await ProcessCluster.start({
      size: 3,
      args: ['--partitions', String(partitions)],
    });
    t.after(async () => {
      for (const n of cluster.nodes) n.child.kill('SIGCONT');
      await cluster.stop();
    });
    const addresses = cluster.seeds();
    const processes = cluster.nodes.map((n) => n.child);
    const writer = await connect({ seeds: addresses, timeoutMs: 15_000 });
    t.after(() => writer.close());
    let status: ClusterStatusView | null = null;
    await eventually('a healthy cluster', async () => {
      status = await writer.clusterStatus();
      return status.members.length === 3 && status.health === 'ok';
    });
    const leader = status!.members.find((m) => m.id === status!.leader)!.address;
    const table = await primaries(addresses[0]!);
    const sleeperAddress = addresses.find((a) => a !== leader && table.includes(a))!;
    const sleeper = processes[addresses.indexOf(sleeperAddress)]!;
    // Keys that the sleeper leads.
    const keys: string[] = [];
    for (let i = 0; keys.length < 8; i++) {
      const key = `cart:${i}`;
      if (table[partitionOf(key, partitions)] === sleeperAddress) keys.push(key);
    }
    const acknowledged = new Map<string, { value: number; at: number }[]>();
    const ack = (key: string, value: number): void => {
      const list = acknowledged.get(key) ?? [];
      list.push({ value, at: performance.now() });
      acknowledged.set(key, list);
    };
    let version = 0;
    for (const key of keys) await writer.set(key, ++version).then(() => ack(key, version));

    // The reader learns the table now and keeps it: it never hears NOT_PRIMARY while the
    // sleeper sleeps, so after the failover it still asks the sleeper.
    const reader = await connect({ seeds: addresses, timeoutMs: 15_000 });
    t.after(() => reader.close());
    await reader.get(keys[0]!);

    const reads: { key: string; invokedAt: number; value: unknown }[] = [];
    const failures: string[] = [];
    let running = true;
    const readLoop = (async () => {
      const inFlight: Promise<void>[] = [];
      while (running) {
        for (const key of keys) {
          const invokedAt = performance.now();
          inFlight.push(
            reader.get(key).then(
              (value) => void reads.push({ key, invokedAt, value }),
              (error: Error) => void failures.push(`read ${key}: ${error.message}`),
            ),
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await Promise.all(inFlight);
    })();
    const writeLoop = (async () => {
      while (running) {
        for (const key of keys) {
          const value = ++version;
          try {
            // Short: a write stuck on the frozen node gives up, and the client then learns
            // the new table.
            await writer.set(key, value, { timeoutMs: 1_000 });
            ack(key, value);
          } catch (error) {
            failures.push(`write ${key}: ${(error as Error).message}`);
          }
        }
      }
    })();

    await new Promise((r) => setTimeout(r, 300));
    sleeper.kill('SIGSTOP');
    // Well past the 600 ms failure timeout: the others fail its partitions over.
    await eventually('the others promoted its backups', async () => {
      const now = await primaries(leader);
      return keys.every((k) => now[partitionOf(k, partitions)] !== sleeperAddress);
    });
    await new Promise((r) => setTimeout(r, 1_500));
    sleeper.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 2_000));
    running = false;
    await Promise.all([readLoop, writeLoop]);

    const stale = reads.filter((r) =>
      (acknowledged.get(r.key) ?? []).some(
        (w) => w.at < r.invokedAt && typeof r.value === 'number' && r.value < w.value,
      ),
    );
    t.diagnostic(
      `${reads.length} reads, ${[...acknowledged.values()].flat().length} writes acknowledged, ` +
        `${failures.length} calls failed (timeouts while paused are allowed), ${stale.length} stale`,
    );
    assert.deepEqual(
      stale.slice(0, 5),
      [],
      'a read returned a value older than one acknowledged before it was invoked',
    );
    assert.ok(reads.length > 0);
    for (const [key, list] of acknowledged) {
      assert.equal(await writer.get(key), list[list.length - 1]!.value, `${key} lost a write`);
    }
    await eventually('the woken node is back as a member', async () => {
      const s = await writer.clusterStatus();
      return s.members.every((m) => m.state === 'active') && s.health === 'ok';
    });
  },
);
