/**
 * Starting and stopping a node: the runtime that wires the pure data plane to sockets,
 * timers and the clock. `startNode()` is the same code whether the node runs as a process
 * (`statehouse node`) or embedded in an application.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { StatehouseError, ErrorCode } from '../core/errors.js';
import {
  expirySweepEntriesMax,
  expirySweepIntervalMs,
  frameBytesMaxFor,
  keyBytesMaxDefault,
  partitionCountDefault,
  partitionCountMax,
  valueBytesMaxCeiling,
  valueBytesMaxDefault,
} from '../core/limits.js';
import type { Clock } from '../core/clock.js';
import { DataPlane } from '../replication/index.js';
import { ClientConnection, digestToken } from './client-connection.js';
import { createLogger, silentLogger, type Logger, type LogLevel } from './logger.js';

export interface NodeOptions {
  /** Interface to listen on. Default `127.0.0.1`: exposing a node is a deliberate choice. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 7400. */
  port?: number;
  /** A stable name for this node. Default: `node-` and 8 random hex digits. */
  id?: string;
  /** Partitions of the cluster, fixed at creation. Default 256. */
  partitions?: number;
  /** Memory limit for entries, in bytes; writes beyond it get OUT_OF_MEMORY. Default: none. */
  maxMemoryBytes?: number;
  /** Largest key in UTF-8 bytes. Default 1024. */
  keyBytesMax?: number;
  /** Largest encoded value in bytes. Default 1 MiB. */
  valueBytesMax?: number;
  /** When set, clients must present this token in their hello. */
  token?: string;
  /** A pino logger, or a level for a new one. Default: silent when embedded. */
  logger?: Logger | LogLevel;
  /** The clock for expiry. Default: the wall clock. */
  clock?: Clock;
  /** A new connection must complete its hello within this many ms. Default 5000. */
  handshakeTimeoutMs?: number;
}

export interface StateNode {
  readonly id: string;
  /** `host:port` the node listens on. */
  readonly address: string;
  readonly port: number;
  /** Entries and bytes held now. */
  stats(): { entries: number; bytes: number; memoryLimitBytes: number; connections: number };
  /** Stops accepting, answers what is pending, closes every connection. Idempotent. */
  close(): Promise<void>;
}

const wallClock: Clock = { now: () => Date.now() };

function checkPositiveInteger(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `${name} must be an integer from 1 to ${max}, got ${value}`,
    );
  }
}

export async function startNode(options: NodeOptions = {}): Promise<StateNode> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 7400;
  const partitions = options.partitions ?? partitionCountDefault;
  const keyBytesMax = options.keyBytesMax ?? keyBytesMaxDefault;
  const valueBytesMax = options.valueBytesMax ?? valueBytesMaxDefault;
  const maxMemoryBytes = options.maxMemoryBytes ?? Infinity;
  checkPositiveInteger('partitions', partitions, partitionCountMax);
  checkPositiveInteger('keyBytesMax', keyBytesMax, 64 * 1024);
  checkPositiveInteger('valueBytesMax', valueBytesMax, valueBytesMaxCeiling);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `port must be an integer from 0 to 65535, got ${port}`,
    );
  }
  if (!(maxMemoryBytes === Infinity || (Number.isInteger(maxMemoryBytes) && maxMemoryBytes > 0))) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `maxMemoryBytes must be a positive integer, got ${maxMemoryBytes}`,
    );
  }
  if (options.token !== undefined && options.token.length === 0) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      'token must not be empty; omit it to run without one',
    );
  }
  const id = options.id ?? `node-${randomBytes(4).toString('hex')}`;
  const logger =
    typeof options.logger === 'string'
      ? createLogger(options.logger, { node: id })
      : (options.logger?.child({ node: id }) ?? silentLogger);
  const clock = options.clock ?? wallClock;

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new StatehouseError(
          ErrorCode.UNAVAILABLE,
          error.code === 'EADDRINUSE'
            ? `cannot listen on ${host}:${port}: the address is already in use`
            : `cannot listen on ${host}:${port}: ${error.message}`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address();
  const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port;
  const address = `${host.includes(':') ? `[${host}]` : host}:${actualPort}`;

  const plane = new DataPlane({
    nodeId: id,
    address,
    partitionCount: partitions,
    keyBytesMax,
    valueBytesMax,
    memoryLimitBytes: maxMemoryBytes,
  });
  const connections = new Set<ClientConnection>();
  const context = {
    plane,
    clock,
    logger,
    frameBytesMax: frameBytesMaxFor(keyBytesMax, valueBytesMax),
    keyBytesMax,
    valueBytesMax,
    tokenDigest: options.token === undefined ? null : digestToken(options.token),
    ...(options.handshakeTimeoutMs !== undefined && {
      handshakeTimeoutMs: options.handshakeTimeoutMs,
    }),
  };
  server.on('connection', (socket: Socket) => {
    connections.add(new ClientConnection(socket, context, (c) => connections.delete(c)));
  });
  server.on('error', (error) => logger.error({ err: error }, 'server error'));

  const sweep = setInterval(() => {
    plane.reclaimExpired(clock.now(), expirySweepEntriesMax);
  }, expirySweepIntervalMs);
  sweep.unref();

  logger.info({ address, partitions, maxMemoryBytes }, 'node listening');

  let closed: Promise<void> | null = null;
  return {
    id,
    address,
    port: actualPort,
    stats: () => ({ ...plane.stats(), connections: connections.size }),
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        clearInterval(sweep);
        server.close(() => resolve());
        for (const connection of connections) connection.end();
        // A peer that never reads its replies must not hold the shutdown forever.
        const force = setTimeout(() => {
          for (const connection of connections) connection.destroy();
        }, 2_000);
        force.unref();
        logger.info('node closing');
      });
      return closed;
    },
  };
}
