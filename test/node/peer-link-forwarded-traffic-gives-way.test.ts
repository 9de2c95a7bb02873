/**
 * A peer link carries what a node must say in time (Raft, leases, the replication stream)
 * and forwarded client traffic (commands and their replies, up to a value each). The
 * forwarded traffic leaves only while little is waiting in the socket, so a message sent
 * after megabytes of it still goes out ahead of most of them.
 */
import test from 'node:test';
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

test('a Raft message sent after 30 MB of forwarded replies reaches the peer ahead of most of them', async (t) => {
  const kinds: string[] = [];
  let peer: Socket | null = null;
  let helloAnswered: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => (helloAnswered = resolve));
  const server = createServer((socket) => {
    peer = socket;
    const decoder = new FrameDecoder(1 << 26);
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (body) => {
        const request = decodeRequest(body);
        if (isBadMessage(request)) return;
        if (request.kind === 'peerHello') {
          socket.write(frameBatch([encodeOk(request.id, { memberId: 'far', clusterId: null })]));
          // The peer reads nothing more until everything below was sent.
          socket.pause();
          helloAnswered();
          return;
        }
        kinds.push(request.kind);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        peer?.destroy();
        server.close(() => resolve());
      }),
  );
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;

  let flushRequested = false;
  const network = new PeerNetwork(
    { memberId: 'near', address: '127.0.0.1:1', clusterId: () => null },
    silentLogger,
    () => (flushRequested = true),
  );
  t.after(() => network.close());
  network.learn('far', address);
  const heartbeat = {
    type: 'heartbeat',
    from: 'near',
    to: 'far',
    term: 1,
    commit: 0,
    context: 0,
  } as const;
  network.send(heartbeat); // dials the link; the first message the peer reads
  await answered;
  await new Promise((resolve) => setTimeout(resolve, 50));
  network.flush();

  const reply = new Uint8Array(1_000_000);
  for (let i = 0; i < 30; i++) network.sendForwarded('far', reply);
  network.flush();
  network.send(heartbeat);
  network.flush();
  assert.ok(flushRequested);

  const peerSocket = peer as Socket | null;
  assert.ok(peerSocket !== null);
  peerSocket.resume();
  const deadline = Date.now() + 15_000;
  while (kinds.length < 32 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(kinds.length, 32, 'every message arrived');
  // Ahead of it: what the socket and the kernel already held when it was sent (a few MB).
  const ahead = kinds.lastIndexOf('raft') - 1;
  assert.ok(ahead < 15, `the heartbeat arrived after ${ahead} of the 30 forwarded replies`);
});
