/**
 * SIGKILL of a partition's primary and its only in-sync backup at once (issue 4, test 5).
 *
 * Five `statehouse node` processes, replication factor 2 (the default), under a load that
 * overwrites keys and reads them back. Two nodes holding both copies of some partition are
 * killed together; they are chosen so that the Raft leader survives and at most one of them
 * is a voter, so the control plane keeps its quorum (3 voters of 5 nodes by default).
 *
 * Every partition whose two copies were on the victims has no copy left. Promoting nothing
 * is the only safe answer (placement.ts, rule 1): such a partition must refuse reads and
 * writes with UNAVAILABLE, and must never answer from older data or accept a write on an
 * empty copy. Every other partition must keep serving, with all its acknowledged writes.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { parseAddress } from '../../src/core/address.js';
import { checkLinearizable, pairOperations, registerModel } from '../sim/checker/index.js';
import { eventually } from '../helpers/cluster.js';
import {
  WriteLoad,
  describeErrors,
  errorCode,
  filterRecord,
  keyPerPartition,
  partitionProbe,
  verifyAcknowledged,
} from '../helpers/load.js';
import { ProcessCluster } from '../helpers/process-cluster.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { partitionOf } from '../../src/core/keys.js';

/** What a call came back with: a value, or the error code (a TIMEOUT names its last cause). */
async function outcome(call: Promise<unknown>): Promise<{ value: unknown } | { code: string }> {
  return call.then(
    (value) => ({ value }),
    (error: unknown) => ({ code: errorCode(error) }),
  );
}

test(
  'when a partition loses its primary and its only in-sync backup, it answers UNAVAILABLE and never older data, while every other partition keeps serving',
  { timeout: 240_000 },
  async (t) => {
    const cluster = await ProcessCluster.start({ size: 5 });
    t.after(() => cluster.stop());
    const before = await cluster.settled(5);
    const nameOf = (id: string): string => before.members.find((m) => m.id === id)!.name;
    const leader = nameOf(before.leader!);
    const voters = new Set(before.members.filter((m) => m.role === 'voter').map((m) => m.name));

    const client = await connect({ seeds: cluster.seeds(), timeoutMs: 5_000 });
    t.after(() => client.close());
    const partitionCount = client.limits.partitionCount;
    const keys = keyPerPartition(partitionCount, 'pair');
    const holders = await cluster.holders(keys);
    const pick = holders.findIndex(
      (h) => h.length === 2 && !h.includes(leader) && h.filter((n) => voters.has(n)).length <= 1,
    );
    assert.notEqual(pick, -1, `no partition has both copies off the leader and a voter`);
    const victims = holders[pick]!;
    const lost = new Set(
      holders.flatMap((h, p) => (h.every((n) => victims.includes(n)) ? [p] : [])),
    );
    t.diagnostic(
      `killing ${victims.join(' and ')} (leader ${leader}, voters ${[...voters].join(' ')}): ` +
        `partitions ${[...lost].join(' ')} have both copies on them`,
    );

    // The newest acknowledged value of a key in every partition about to lose both copies.
    for (const p of lost) {
      await client.set(keys[p]!, { v: 1 });
      await client.set(keys[p]!, { v: 2 });
    }
    const load = await WriteLoad.start({
      seeds: cluster.seeds(),
      mode: 'registers',
      keysPerCaller: 64,
      readShare: 0.3,
      history: true,
      // Calls on the dead partitions fail at this deadline; short keeps the load moving.
      timeoutMs: 1_000,
    });
    let stopped = false;
    t.after(async () => {
      if (!stopped) await load.stop();
    });
    await load.acknowledgedMore(300);

    const victimNodes = cluster.nodes.filter((n) => victims.includes(n.name));
    const killedAt = Math.min(...(await Promise.all(victimNodes.map((n) => cluster.kill(n)))));
    const survivors = cluster.alive();

    // The survivors' control plane (a quorum of voters survived) declares both dead.
    await eventually(
      'the survivors declare both victims dead',
      async () => {
        const s = await cluster.status(survivors[0]!);
        return victims.every((v) => s?.members.find((m) => m.name === v)?.state === 'dead');
      },
      60_000,
    );

    // Every other partition accepts writes again: its primary survived or was promoted.
    const probeClient = await connect({
      seeds: survivors.map((n) => n.address),
      timeoutMs: 5_000,
    });
    t.after(() => probeClient.close());
    const others = [...Array(partitionCount).keys()].filter((p) => !lost.has(p));
    const probe = await partitionProbe(
      probeClient,
      keyPerPartition(partitionCount, 'probe'),
      killedAt,
      { only: others, timeoutMs: 60_000 },
    );
    t.diagnostic(
      `the ${others.length} other partitions all accepted writes ${probe.allMs} ms after the kill`,
    );

    // The partitions without a copy: the client gets UNAVAILABLE, never a value other than
    // the newest acknowledged one, and no write is acknowledged.
    await Promise.all(
      [...lost].map(async (p) => {
        // A few seconds: on a loaded machine the client may first try the dead primary's
        // address from a table one survivor has not yet updated (TIMEOUT(CONNECTION_CLOSED)).
        const read = await outcome(probeClient.get(keys[p]!, { timeoutMs: 5_000 }));
        if ('value' in read)
          assert.deepEqual(read.value, { v: 2 }, `partition ${p} served old data`);
        else assert.match(read.code, /UNAVAILABLE/, `a read in partition ${p}`);
        const write = await outcome(probeClient.set(keys[p]!, { v: 3 }, { timeoutMs: 5_000 }));
        assert.ok('code' in write, `partition ${p}, which has no copy left, acknowledged a write`);
        assert.match(write.code, /UNAVAILABLE/, `a write in partition ${p}`);
      }),
    );
    // And no survivor answers for them from a copy of its own, whatever the read allows.
    for (const node of survivors) {
      const raw = await RawConnection.ready(parseAddress(node.address).port, 'chaos-raw');
      try {
        let id = 0;
        for (const p of lost) {
          for (const readFrom of ['primary', 'any'] as const) {
            raw.request({
              kind: 'command',
              id: ++id,
              command: { op: 'get', key: keys[p]! },
              readFrom,
            });
            const reply = await raw.reply(id);
            assert.ok(
              !reply.ok,
              `${node.name} answered a ${readFrom} read in partition ${p}: ${JSON.stringify(reply)}`,
            );
          }
        }
      } finally {
        raw.close();
      }
    }

    // The load: everything acknowledged outside the lost partitions reads back, and what
    // every caller saw, reads during the kill included, is linearizable.
    await load.acknowledgedMore(200, 60_000);
    const record = await load.stop();
    stopped = true;
    const outside = filterRecord(record, (key) => !lost.has(partitionOf(key, partitionCount)));
    const verification = await verifyAcknowledged(
      survivors.map((n) => n.address),
      outside,
    );
    t.diagnostic(
      `load: ${record.writes.acknowledged} writes and ${record.reads.ok} reads answered; errors: ${describeErrors(record)}; ` +
        `outside the lost partitions ${verification.checked} keys verified, ${verification.lost.length} lost`,
    );
    const status = await cluster.status(survivors[0]!);
    t.diagnostic(
      `status after: health ${status?.health}, ${status?.partitions.withoutPrimary} without primary, ` +
        `${status?.partitions.underReplicated} under-replicated`,
    );
    assert.deepEqual(verification.lost, []);
    assert.deepEqual(verification.unreadable, []);
    const check = checkLinearizable(pairOperations(record.events), registerModel);
    assert.ok(
      check.ok,
      `not linearizable: ${check.violations.map((v) => v.description).join('\n')} unknown keys: ${check.unknownKeys.join(' ')}`,
    );
  },
);
