/**
 * One request to another node, on a connection of its own: what a joining node needs
 * before it is part of anything. (The client's pooled, retrying connection lives a layer up.)
 */
import { connect } from 'node:net';
import { parseAddress } from '../core/address.js';
import { ErrorCode, StatehouseError } from '../core/errors.js';
import {
  FrameDecoder,
  decodeReply,
  encodeRequest,
  frameBatch,
  isBadMessage,
  protocolVersion,
  type HelloResult,
  type Reply,
} from '../protocol/index.js';

export function requestOnce(args: {
  address: string;
  clientName: string;
  clientId: string;
  token?: string;
  /** The local address to dial from (NodeOptions.localAddress). */
  localAddress?: string;
  timeoutMs: number;
  encode: (id: number) => Uint8Array;
  /** Receives what the node said of itself in the handshake. */
  onHello?: (hello: HelloResult) => void;
}): Promise<Reply> {
  const { host, port } = parseAddress(args.address);
  return new Promise<Reply>((resolve, reject) => {
    const socket = connect({
      host,
      port,
      noDelay: true,
      ...(args.localAddress !== undefined && { localAddress: args.localAddress }),
    });
    const decoder = new FrameDecoder(1 << 24);
    let done = false;
    const finish = (error: Error | null, reply?: Reply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () =>
        finish(new StatehouseError(ErrorCode.TIMEOUT, `no answer from ${args.address} in time`)),
      args.timeoutMs,
    );
    socket.on('connect', () => {
      const hello = encodeRequest({
        kind: 'hello',
        id: 0,
        protocol: protocolVersion,
        client: args.clientName,
        clientId: args.clientId,
        ...(args.token !== undefined && { token: args.token }),
      });
      socket.write(frameBatch([hello, args.encode(1)]));
    });
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk, (body) => {
        const reply = decodeReply(body);
        if (isBadMessage(reply))
          return finish(new StatehouseError(ErrorCode.INTERNAL, reply.message));
        if (reply.id === 0 && !reply.ok) {
          return finish(new StatehouseError(reply.error.code, reply.error.message));
        }
        if (reply.id === 0 && reply.ok) args.onHello?.(reply.result as HelloResult);
        if (reply.id === 1) finish(null, reply);
      });
    });
    socket.on('error', (error) =>
      finish(
        new StatehouseError(
          ErrorCode.CONNECTION_CLOSED,
          `cannot reach ${args.address}: ${error.message}`,
        ),
      ),
    );
    socket.on('close', () =>
      finish(
        new StatehouseError(ErrorCode.CONNECTION_CLOSED, `${args.address} closed the connection`),
      ),
    );
  });
}
