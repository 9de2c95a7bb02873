/**
 * A minimal Redis-protocol server written in Node.js, in a process of its own: the control
 * that `npm run bench:http-controls` puts where redis-server or a Statehouse node would be.
 * connect-redis and node-redis talk to it unchanged, so the web server's code is exactly the
 * connect-redis shop's, and only the server differs: C (redis-server), a Node.js process doing
 * next to nothing per command (this), or a Node.js process made to spend `burnUs` of busy CPU
 * per command (this, burning), which stands in for a server as costly as a Statehouse node.
 *
 * It answers what connect-redis sends for the shop: GET, SET (with EX or PX), EXPIRE, DEL,
 * DBSIZE, PING, HELLO (node-redis asks for RESP3 on connect; the reply is the map Redis
 * gives, nil is then `_`) and +OK to CLIENT (node-redis's SETINFO). Anything else gets an
 * error reply. It is a measuring instrument, not a store: one Map, no persistence, no limits,
 * and inline (non-array) commands close the connection.
 *
 * Both ends are in this file, as in node-process.ts:
 *   child -> { type: 'ready', port }    once it listens on a free loopback port;
 *   the bench stops it by its pid (stopChild); it also exits when the IPC channel closes.
 */
import { createServer, type Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ipcChild, spawnTracked, stopChild } from './processes.js';

export interface RespServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

type FromChild = { type: 'ready'; port: number };

const startTimeoutMs = 20_000;
const thisFile = fileURLToPath(import.meta.url);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts the server; with `burnUs` > 0 it spins that long on every command it answers. */
export async function spawnRespServer(burnUs = 0): Promise<RespServer> {
  const child = spawnTracked(
    process.execPath,
    ['--import', 'tsx', thisFile, JSON.stringify({ burnUs })],
    { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const ipc = ipcChild<FromChild, never>(child, 'RESP server');
  try {
    const { port } = await ipc.next('ready', startTimeoutMs);
    return { port, pid: ipc.pid, stop: () => stopChild(child) };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

interface Entry {
  readonly value: Buffer;
  expiresAt: number;
}

const cr = 13;
const ok = Buffer.from('+OK\r\n');
const nil2 = Buffer.from('$-1\r\n');
const nil3 = Buffer.from('_\r\n');
const hello3 = Buffer.from('%3\r\n+server\r\n+redis\r\n+version\r\n+7.0.0\r\n+proto\r\n:3\r\n');
const crlf = Buffer.from('\r\n');

/** One command's arguments and where the next begins, or null if the buffer ends first. */
function parseCommand(buffer: Buffer, start: number): { args: Buffer[]; end: number } | null {
  let lineEnd = buffer.indexOf(cr, start);
  if (lineEnd < 0 || lineEnd + 1 >= buffer.length) return null;
  if (buffer[start] !== 0x2a) throw new Error('not a RESP array');
  const count = Number(buffer.toString('latin1', start + 1, lineEnd));
  let position = lineEnd + 2;
  const args: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    lineEnd = buffer.indexOf(cr, position);
    if (lineEnd < 0 || lineEnd + 1 >= buffer.length) return null;
    const length = Number(buffer.toString('latin1', position + 1, lineEnd));
    position = lineEnd + 2;
    if (position + length + 2 > buffer.length) return null;
    args.push(buffer.subarray(position, position + length));
    position += length + 2;
  }
  return { args, end: position };
}

function integer(n: number): Buffer {
  return Buffer.from(`:${n}\r\n`);
}

/** A connection's protocol version: 2 until it says HELLO 3. */
interface Connection {
  resp: 2 | 3;
}

function execute(
  store: Map<string, Entry>,
  connection: Connection,
  args: Buffer[],
  out: Buffer[],
): void {
  const name = args[0]?.toString('latin1').toUpperCase() ?? '';
  const key = args[1]?.toString() ?? '';
  const now = Date.now();
  switch (name) {
    case 'GET': {
      const entry = store.get(key);
      if (entry === undefined || entry.expiresAt <= now)
        out.push(connection.resp === 3 ? nil3 : nil2);
      else out.push(Buffer.from(`$${entry.value.length}\r\n`), entry.value, crlf);
      return;
    }
    case 'SET': {
      let expiresAt = Infinity;
      for (let i = 3; i + 1 < args.length; i++) {
        const option = args[i]!.toString('latin1').toUpperCase();
        if (option === 'EX') expiresAt = now + Number(args[++i]!.toString()) * 1000;
        else if (option === 'PX') expiresAt = now + Number(args[++i]!.toString());
      }
      store.set(key, { value: Buffer.from(args[2] ?? Buffer.alloc(0)), expiresAt });
      out.push(ok);
      return;
    }
    case 'EXPIRE': {
      const entry = store.get(key);
      if (entry !== undefined) entry.expiresAt = now + Number(args[2]?.toString()) * 1000;
      out.push(integer(entry === undefined ? 0 : 1));
      return;
    }
    case 'DEL': {
      let deleted = 0;
      for (const arg of args.slice(1)) if (store.delete(arg.toString())) deleted++;
      out.push(integer(deleted));
      return;
    }
    case 'DBSIZE':
      out.push(integer(store.size));
      return;
    case 'PING':
      out.push(Buffer.from('+PONG\r\n'));
      return;
    case 'HELLO':
      if (args[1]?.toString() === '3') {
        connection.resp = 3;
        out.push(hello3);
      } else {
        out.push(Buffer.from('-NOPROTO only HELLO 3 is answered\r\n'));
      }
      return;
    case 'CLIENT':
      out.push(ok);
      return;
    default:
      out.push(Buffer.from(`-ERR unknown command '${name}'\r\n`));
  }
}

function serve(burnUs: number): void {
  const store = new Map<string, Entry>();
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    let pending: Buffer | null = null;
    const connection: Connection = { resp: 2 };
    socket.on('data', (chunk: Buffer) => {
      const buffer = pending === null ? chunk : Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      let position = 0;
      try {
        for (;;) {
          const command = parseCommand(buffer, position);
          if (command === null) break;
          position = command.end;
          if (burnUs > 0) {
            const until = performance.now() + burnUs / 1000;
            while (performance.now() < until);
          }
          execute(store, connection, command.args, out);
        }
      } catch {
        socket.destroy();
        return;
      }
      pending = position < buffer.length ? buffer.subarray(position) : null;
      if (out.length > 0) socket.write(Buffer.concat(out));
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    process.send?.({ type: 'ready', port } satisfies FromChild);
  });
  process.on('disconnect', () => process.exit(0));
}

// Run as the child only when this file is the entry point, not when the bench imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { burnUs } = JSON.parse(process.argv[2] ?? '{}') as { burnUs?: number };
  serve(burnUs ?? 0);
}
