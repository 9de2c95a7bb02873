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
  granted: 0,
} as const;

/**
 * A peer ('far') that answers the hello and records the kind of every later message, and a
 * PeerNetwork ('near') linked to it, the link up and its first heartbeat sent. With
 * `readAfterHello: false` the peer reads nothing more until `peer.resume()`.
 */
async function linkedPeer(
  t: TestContext,
  readAfterHello: boolean,
): Promise<{ network: PeerNetwork; kinds: string[]; firstBytes: number[]; peer: Socket }> {
  const kinds: string[] = [];
  const firstBytes: number[] = [];
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
        if (request.kind === 'forwarded') firstBytes.push(request.reply[0] ?? -1);
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
  return { network, kinds, firstBytes, peer };
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

test('a peer that stops reading makes its link hold at most 256 MiB of forwarded traffic, the newest', async (t) => {
  const { network, firstBytes, peer } = await linkedPeer(t, false);
  // 300 replies of 1 MB, each a view of one buffer whose first byte is its number % 256.
  const backing = new Uint8Array(1_000_300);
  for (let i = 0; i < 300; i++) backing[i] = i % 256;
  for (let i = 0; i < 300; i++) network.sendForwarded('far', backing.subarray(i, i + 1_000_000));
  network.flush();
  peer.resume();
  // Until nothing more arrives for a second.
  let seen = -1;
  const deadline = Date.now() + 15_000;
  while (firstBytes.length !== seen && Date.now() < deadline) {
    seen = firstBytes.length;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  // 256 MiB of them waited in the link, a few more in the socket and the kernel; the oldest
  // were dropped, so the last to arrive is the last sent.
  assert.ok(
    firstBytes.length > 250 && firstBytes.length < 290,
    `${firstBytes.length} of 300 arrived`,
  );
  assert.equal(firstBytes.at(-1), 299 % 256, 'the newest arrived last');
});
