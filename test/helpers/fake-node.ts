/**
 * A one-partition fake node for client tests: it answers hello and table like a node, and
 * each command with what `answer` returns for it (its 0-based number), or not at all (null).
 * The table names the fake as the primary, unless `table` says otherwise.
 */
import type { TestContext } from 'node:test';
import { createServer, type Socket } from 'node:net';
import {
  FrameDecoder,
  decodeRequest,
  encodeError,
  encodeOk,
  frameBatch,
  isBadMessage,
  type WireError,
} from '../../src/protocol/index.js';

export interface FakeTable {
  /** Nodes besides the fake itself, which is always the first. */
  readonly others?: readonly string[];
  /** The primary's index into the nodes; -1 for none. Default 0, the fake. */
  readonly primary?: number;
}

export async function fakeNode(
  t: TestContext,
  answer: (command: number) => WireError | null,
  table: FakeTable = {},
): Promise<string> {
  return (await startFakeNode(t, answer, table)).address;
}

/** The fake node, and a way to stop it (every connection dropped, the port closed). */
export async function startFakeNode(
  t: TestContext,
  answer: (command: number) => WireError | null,
  table: FakeTable = {},
): Promise<{ address: string; stop: () => Promise<void> }> {
  let commands = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder(1 << 20);
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (body) => {
        const request = decodeRequest(body);
        if (isBadMessage(request)) return;
        let reply: Uint8Array | null;
        if (request.kind === 'hello') {
          reply = encodeOk(request.id, {
            protocol: 1,
            nodeId: 'fake',
            partitionCount: 1,
            keyBytesMax: 1024,
            valueBytesMax: 1 << 20,
            epoch: 1,
          });
        } else if (request.kind === 'table') {
          reply = encodeOk(request.id, {
            epoch: 1,
            partitionCount: 1,
            nodes: [
              { id: 'fake', address },
              ...(table.others ?? []).map((other, i) => ({ id: `other${i}`, address: other })),
            ],
            primaries: [table.primary ?? 0],
          });
        } else {
          const error = answer(commands++);
          reply = error === null ? null : encodeError(request.id, error);
        }
        if (reply !== null) socket.write(frameBatch([reply]));
      }),
    );
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
    return stopped;
  };
  t.after(stop);
  return { address, stop };
}
