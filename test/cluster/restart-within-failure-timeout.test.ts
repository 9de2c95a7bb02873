/**
 * A node SIGKILLed and restarted on its data dir before the cluster declared it dead.
 *
 * The restarted process resumes its member id from the data dir (Raft's log and vote), but
 * the entries it held were in memory only and are gone. The control plane never saw it die,
 * so the table still names it primary of its partitions, in the same epochs.
 *
 * KNOWN BUG (marked todo; found while writing the SIGKILL tests): the restarted node
 * configures itself as primary of those epochs with empty stores and serves them: reads
 * answer null for acknowledged keys, and its backups, found "ahead" of it, are overwritten by
 * a state transfer of its empty copy, so the writes are lost from every copy. With 3 nodes
 * and 300 acknowledged sync writes, about 100 (those of the restarted node's 85 of 256
 * partitions) read back null, and stay lost. A single failure must not lose an acknowledged
 * sync write (DESIGN.md section 4). A fix needs the control plane to treat the restarted
 * member's copies as lost before it serves (fail its primaries over to in-sync backups, drop
 * its copies from the in-sync sets), e.g. when it re-joins with a known member id.
 *
 * The failure timeout is raised to 10 s here so that the restart always lands before the
 * node is declared dead, whatever the machine's load; with the default 1.5 s a restart of a
 * process that starts in about a second hits the bug as well.
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
    todo: 'known bug: the restarted node serves its partitions from empty stores and wipes its backups',
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
