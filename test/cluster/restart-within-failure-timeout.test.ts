/**
 * A node SIGKILLed and restarted on its data dir before the cluster declared it dead.
 *
 * The restarted process resumes its member id from the data dir (Raft's log and vote), but
 * the entries it held were in memory only and are gone. The control plane never saw it die,
 * so the table still names it primary of its partitions, in the same epochs.
 *
 * Found while writing the SIGKILL tests: the restarted node served its partitions from empty
 * stores and its backups followed it, so about a third of 200 acknowledged writes read back
 * null, for good. Now its join makes the leader drop the copies it held (and promote in-sync
 * backups where it led) before its data plane takes any table (start-node.ts, tableToServe).
 *
 * The failure timeout is raised to 10 s here so that the restart always lands before the
 * node is declared dead, whatever the machine's load.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { errorCode } from '../helpers/load.js';
import { ProcessCluster } from '../helpers/process-cluster.js';

test(
  'a node SIGKILLed and restarted before it is declared dead does not lose acknowledged sync writes',
  {
    timeout: 180_000,
  },
  async (t) => {
    const cluster = await ProcessCluster.start({
      size: 3,
      args: ['--partitions', '32', '--failure-timeout', '10s'],
    });
    t.after(() => cluster.stop());
    const before = await cluster.settled(3);
    const victimMember = before.members.find((m) => m.id !== before.leader && m.primaries > 0)!;
    const victim = cluster.byAddress(victimMember.address);
    const client = await connect({ seeds: cluster.seeds(), timeoutMs: 10_000 });
    t.after(() => client.close());
    const written = 200;
    for (let i = 0; i < written; i++) await client.set(`session:${i}`, { i });

    await cluster.kill(victim);
    await cluster.restart(victim);
    await cluster.settled(3);

    const lost: string[] = [];
    for (let i = 0; i < written; i++) {
      const got = await client.get(`session:${i}`).catch((e: unknown) => errorCode(e));
      if (JSON.stringify(got) !== JSON.stringify({ i }))
        lost.push(`session:${i}=${JSON.stringify(got)}`);
    }
    t.diagnostic(`${lost.length} of ${written} acknowledged sync writes lost`);
    assert.deepEqual(lost, []);
  },
);
