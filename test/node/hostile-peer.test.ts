/**
 * A peer link carries what the state machines trust most: Raft, the replication stream,
 * forwarded commands. A peer that is broken, or not the member it claims to be, must not be
 * able to crash a node or wedge the cluster with a snapshot or a term (found by fuzzing the
 * ports). A replication stream that does not fit a copy still stops the node: fail-stop, so
 * that no copy that diverged is ever served.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { pack } from 'msgpackr';
import { connect } from '../../src/client/index.js';
import { peerProtocolVersion } from '../../src/protocol/index.js';
import { startCluster } from '../helpers/cluster.js';
import { RawConnection } from '../helpers/raw-connection.js';

/** A peer link to `port` that says it is `memberId`. */
async function peerLink(port: number, memberId: string): Promise<RawConnection> {
  const raw = await RawConnection.open(port);
  raw.writeFrame(
    pack([
      4,
      0,
      { protocol: peerProtocolVersion, memberId, address: '127.0.0.1:1', clusterId: null },
    ]),
  );
  return raw;
}

test('a raft snapshot that is not a cluster state is dropped, and the node serves on', async (t) => {
  const [node] = await startCluster(t, 1, { partitions: 16, replicationFactor: 1 });
  const self = node!.memberId;
  const link = await peerLink(node!.port, 'evil~1');
  const snapshot = {
    type: 'snapshot',
    from: 'evil~1',
    to: self,
    term: 1000,
    snapshot: {
      meta: {
        index: 100_000,
        term: 1000,
        membership: { voters: ['evil~1', self].sort(), learners: [] },
      },
      data: pack({}),
    },
  };
  link.writeFrame(pack([20, 0, { message: snapshot }]));
  const client = await connect({ seeds: [node!.address] });
  t.after(() => client.close());
  await client.set('after', 1);
  assert.equal(await client.get('after'), 1);
  assert.ok(
    node!.status().members.some((m) => m.id === self),
    'it kept its own state',
  );
  link.close();
});

test('a raft message with a term near 2^53 is dropped: the cluster keeps electing', async (t) => {
  const nodes = await startCluster(t, 3, { partitions: 16 });
  const follower = nodes.find((n) => n.status().leader !== n.memberId)!;
  const link = await peerLink(follower.port, 'evil~1');
  const heartbeat = {
    type: 'heartbeat',
    from: 'evil~1',
    to: follower.memberId,
    term: Number.MAX_SAFE_INTEGER,
    commit: 0,
    context: 0,
  };
  link.writeFrame(pack([20, 0, { message: heartbeat }]));
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const n of nodes)
    assert.ok(n.status().term < 2 ** 48, `${n.memberId} term ${n.status().term}`);
  link.close();
});
