/**
 * A peer link carries what a node must say in time (Raft, leases, the replication stream)
 * and forwarded client traffic (commands and their replies, up to a value each). The
 * forwarded traffic leaves only while little is waiting in the socket, so a message sent
 * after megabytes of it still goes out ahead of most of them; and none of it is dropped
 * while the peer reads.
 */
import test, { type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { PeerNetwork } from '../../src/node/peer-network.js';
import { silentLogger } from '../../src/node/logger.js';
import {
  FrameDecoder,
  decodeRequest,
  encodeOk,
  frameBatch,
  isBadMessage,
} from '../../src/protocol/index.js';

const heartbeat = {
  type: 'heartbeat',
  from: 'near',
  to: 'far',
  term: 1,
  commit: 0,
  context: 0,
} as const;

/**
 * A peer ('far') that answers the hello and records the kind of every later message, and a
 * PeerNetwork ('near') linked to it, the link up and its first heartbeat sent. With
 * `readAfterHello: false` the peer reads nothing more until `peer.resume()`.
 */
async function linkedPeer(
  t: TestContext,
  readAfterHello: boolean,
): Promise<{ network: PeerNetwork; kinds: string[]; peer: Socket }> {
  const kinds: string[] = [];
  let accepted: (socket: Socket) => void = () => undefined;
  const helloAnswered = new Promise<Socket>((resolve) => (accepted = resolve));
  const server = createServer((socket) => {
    const decoder = new FrameDecoder(1 << 26);
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (body) => {
        const request = decodeRequest(body);
        if (isBadMessage(request)) return;
        if (request.kind === 'peerHello') {
          socket.write(frameBatch([encodeOk(request.id, { memberId: 'far', clusterId: null })]));
          if (!readAfterHello) socket.pause();
          accepted(socket);
          return;
        }
        kinds.push(request.kind);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const network = new PeerNetwork(
    { memberId: 'near', address: '127.0.0.1:1', clusterId: () => null },
    silentLogger,
    () => undefined,
  );
  network.learn('far', `127.0.0.1:${(server.address() as { port: number }).port}`);
  network.send(heartbeat); // dials the link; the first message the peer reads
  const peer = await helloAnswered;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        network.close();
        peer.destroy();
        server.close(() => resolve());
      }),
  );
  await new Promise((resolve) => setTimeout(resolve, 50)); // the link reads the hello's answer
  network.flush();
  return { network, kinds, peer };
}

async function untilArrived(kinds: string[], count: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (kinds.length < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a Raft message sent after 100 MB of forwarded replies reaches the peer ahead of most of them', async (t) => {
  const { network, kinds, peer } = await linkedPeer(t, false);
  const reply = new Uint8Array(1_000_000);
  for (let i = 0; i < 100; i++) network.sendForwarded('far', reply);
  network.flush();
  network.send(heartbeat);
  network.flush();
  peer.resume();
  await untilArrived(kinds, 102);
  assert.equal(kinds.length, 102, 'every message arrived');
  // Ahead of it: what the socket and the kernel's buffers held when it was sent.
  const ahead = kinds.lastIndexOf('raft') - 1;
  assert.ok(ahead < 50, `the heartbeat arrived after ${ahead} of the 100 forwarded replies`);
});

test('100 MB of forwarded replies queued in one turn all reach a peer that reads', async (t) => {
  const { network, kinds } = await linkedPeer(t, true);
  const reply = new Uint8Array(1_000_000);
  for (let i = 0; i < 100; i++) network.sendForwarded('far', reply);
  network.flush();
  await untilArrived(kinds, 101);
  assert.equal(kinds.filter((kind) => kind === 'forwarded').length, 100);
});
