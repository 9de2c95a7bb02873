/**
 * The encoder for command requests (get, set, patch, ...): `[op, id, {fields}]` in
 * MessagePack, written byte by byte.
 *
 * Why not msgpackr, as for every other message: a command is what a web server sends for
 * each session load and save, and through msgpackr a get cost about 0.6 µs and a patch 0.7
 * (the fields gathered into a fresh object by rest and spread, msgpackr's walk of that
 * object, every field name encoded from its string each time). Here the names' bytes are
 * made once and the values written straight into a slab: `npm run bench:store-js` measures
 * the difference a load-and-save sees.
 *
 * The bytes are what msgpackr writes for the same message (smallest integer and string
 * forms, floats as float64, binary values as bin), so the node's fast decoder takes gets and
 * sets as before. A patch's operands are written here too when they are JSON as the session
 * stores make it (jsonBound); any other value, a Date or a Map say, goes to msgpackr.
 * test/protocol/command-encoder.test.ts holds the two encodings to the same decoded request.
 *
 * Every encoding is a view into a slab that is never written over: the next one goes after
 * it, or into a fresh slab once this one is full. A view stays valid for as long as it is
 * held (a connection holds bodies until its next flush, then copies them into the frame).
 */
import { AssertionError } from '../core/assert.js';
import { createPackr } from '../core/msgpack.js';
import type { PatchOp } from '../store/types.js';
import { Op, type CommandRequest } from './messages.js';

const packr = createPackr();

/** What a command request carries besides its id and its command. */
export type CommandEnvelope = Omit<CommandRequest, 'kind' | 'id'>;

const slabBytes = 16 * 1024;
/** An encoding this large gets a buffer of its own instead of most of a slab. */
const ownBufferBytes = slabBytes / 4;

let slab = Buffer.allocUnsafeSlow(slabBytes);
let slabUsed = 0;

/** Where the encoding being written goes, and how far it got. */
let out = slab;
let at = 0;
/** Where the room made for it ends. */
let limit = 0;

/** A field name as MessagePack writes it: a fixstr of its ASCII bytes. */
function name(text: string): Buffer {
  const bytes = Buffer.alloc(1 + text.length);
  bytes[0] = 0xa0 | text.length;
  bytes.write(text, 1, 'latin1');
  return bytes;
}

const names = {
  key: name('key'),
  value: name('value'),
  ttlMs: name('ttlMs'),
  keepTtl: name('keepTtl'),
  ifVersion: name('ifVersion'),
  ifAbsent: name('ifAbsent'),
  expected: name('expected'),
  ops: name('ops'),
  create: name('create'),
  returnValue: name('returnValue'),
  op: name('op'),
  path: name('path'),
  by: name('by'),
  values: name('values'),
  seq: name('seq'),
  acked: name('acked'),
  epoch: name('epoch'),
  readFrom: name('readFrom'),
  durability: name('durability'),
  forward: name('forward'),
} as const;

/**
 * More bytes than the envelope and the fields of any command take besides its key, values
 * and operations: a set with every field, each number a float64, comes to about 170.
 */
const fixedBytesMax = 256;

/** `[op, id, {fields}]` for a command: see the module comment. Throws only on a patch operand msgpackr cannot encode. */
export function encodeCommand(id: number, request: CommandEnvelope): Uint8Array {
  const { command } = request;
  let bound = fixedBytesMax + 3 * command.key.length;
  let opsBytes: Uint8Array | null = null;
  if (command.op === 'set' || command.op === 'cas') bound += command.value.length;
  if (command.op === 'cas') bound += command.expected.length;
  if (command.op === 'patch') {
    const opsBound = jsonOpsBound(command.ops);
    // Operands other than JSON go to msgpackr, first: it writes into buffers of its own,
    // and may throw.
    if (opsBound < 0) opsBytes = packr.pack(command.ops);
    bound += opsBound < 0 ? opsBytes!.length : opsBound;
  }
  start(bound);
  out[at++] = 0x93;
  out[at++] = Op[command.op];
  writeNumber(id);
  // A fixmap (at most 15 fields; a command has at most 12): its count is filled in at the end.
  const header = at++;
  let count = 1;
  field(names.key);
  writeString(command.key);
  switch (command.op) {
    case 'get':
    case 'ttl':
      break;
    case 'set':
      field(names.value);
      writeBin(command.value);
      count++;
      if (command.ttlMs !== undefined) count += numberField(names.ttlMs, command.ttlMs);
      if (command.keepTtl !== undefined) count += booleanField(names.keepTtl, command.keepTtl);
      if (command.ifVersion !== undefined) count += numberField(names.ifVersion, command.ifVersion);
      if (command.ifAbsent !== undefined) count += booleanField(names.ifAbsent, command.ifAbsent);
      break;
    case 'delete':
      if (command.ifVersion !== undefined) count += numberField(names.ifVersion, command.ifVersion);
      break;
    case 'touch':
      count += numberField(names.ttlMs, command.ttlMs);
      break;
    case 'cas':
      field(names.expected);
      writeBin(command.expected);
      field(names.value);
      writeBin(command.value);
      count += 2;
      if (command.ttlMs !== undefined) count += numberField(names.ttlMs, command.ttlMs);
      break;
    case 'patch':
      field(names.ops);
      if (opsBytes === null) writeJsonOps(command.ops);
      else writeRaw(opsBytes);
      count++;
      if (command.ttlMs !== undefined) count += numberField(names.ttlMs, command.ttlMs);
      if (command.ifVersion !== undefined) count += numberField(names.ifVersion, command.ifVersion);
      if (command.create !== undefined) count += booleanField(names.create, command.create);
      if (command.returnValue !== undefined)
        count += booleanField(names.returnValue, command.returnValue);
      break;
  }
  if (request.seq !== undefined) count += numberField(names.seq, request.seq);
  if (request.ackedBelow !== undefined) count += numberField(names.acked, request.ackedBelow);
  if (request.epoch !== undefined) count += numberField(names.epoch, request.epoch);
  if (request.readFrom !== undefined) {
    field(names.readFrom);
    writeString(request.readFrom);
    count++;
  }
  if (request.durability !== undefined) {
    field(names.durability);
    writeString(request.durability);
    count++;
  }
  if (request.forward === true) count += booleanField(names.forward, true);
  out[header] = 0x80 | count;
  return finish();
}

/**
 * The most bytes `ops` take when every operation is one of the five with a string path and
 * JSON operands (jsonBound), as the session stores' are; -1 when any is not. Only the fields
 * the node reads are written (it ignores any other).
 */
function jsonOpsBound(ops: readonly PatchOp[]): number {
  if (!Array.isArray(ops)) return -1;
  let bound = 5;
  for (const op of ops as readonly unknown[]) {
    if (typeof op !== 'object' || op === null) return -1;
    const { op: kind, path } = op as { op?: unknown; path?: unknown };
    if (typeof path !== 'string') return -1;
    bound += 40 + 3 * path.length;
    switch (kind) {
      case 'set': {
        const valueBytes = jsonBound((op as { value?: unknown }).value, 0);
        if (valueBytes < 0) return -1;
        bound += valueBytes;
        break;
      }
      case 'unset':
        break;
      case 'incr':
        if (typeof (op as { by?: unknown }).by !== 'number') return -1;
        bound += 9;
        break;
      case 'add':
      case 'remove': {
        const values = (op as { values?: unknown }).values;
        if (!Array.isArray(values)) return -1;
        bound += 5;
        for (const value of values as unknown[]) {
          const valueBytes = jsonBound(value, 0);
          if (valueBytes < 0) return -1;
          bound += valueBytes;
        }
        break;
      }
      default:
        return -1;
    }
  }
  return bound;
}

/** Deeper operands go to msgpackr (and a recursion this deep is no session's). */
const jsonDepthMax = 64;

/**
 * The most bytes `value` takes when it is JSON as the session stores make it: strings,
 * numbers, booleans, null, arrays without holes, and plain objects (of Object.prototype) of
 * those; -1 for anything else, which msgpackr encodes instead.
 */
function jsonBound(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'string':
      return 5 + 3 * value.length;
    case 'number':
      return 9;
    case 'boolean':
      return 1;
    case 'object':
      break;
    default:
      return -1;
  }
  if (value === null) return 1;
  if (depth >= jsonDepthMax) return -1;
  let bound = 5;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      // A hole reads as undefined, which is not JSON.
      const bytes = jsonBound(value[i], depth + 1);
      if (bytes < 0) return -1;
      bound += bytes;
    }
    return bound;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return -1;
  for (const key of Object.keys(value)) {
    const bytes = jsonBound((value as Record<string, unknown>)[key], depth + 1);
    if (bytes < 0) return -1;
    bound += 5 + 3 * key.length + bytes;
  }
  return bound;
}

/** Operations jsonOpsBound took, as msgpackr would write their fields. */
function writeJsonOps(ops: readonly PatchOp[]): void {
  writeArrayHeader(ops.length);
  for (const op of ops) {
    out[at++] = 0x80 | (op.op === 'unset' ? 2 : 3);
    field(names.op);
    writeString(op.op);
    field(names.path);
    writeString(op.path);
    switch (op.op) {
      case 'set':
        field(names.value);
        writeJson(op.value);
        break;
      case 'unset':
        break;
      case 'incr':
        field(names.by);
        writeNumber(op.by);
        break;
      case 'add':
      case 'remove':
        field(names.values);
        writeArrayHeader(op.values.length);
        for (const value of op.values) writeJson(value);
        break;
    }
  }
}

/** A value jsonBound took, as msgpackr writes it. */
function writeJson(value: unknown): void {
  if (typeof value === 'string') writeString(value);
  else if (typeof value === 'number') writeNumber(value);
  else if (typeof value === 'boolean') out[at++] = value ? 0xc3 : 0xc2;
  else if (value === null) out[at++] = 0xc0;
  else if (Array.isArray(value)) {
    writeArrayHeader(value.length);
    for (let i = 0; i < value.length; i++) writeJson(value[i]);
  } else {
    const keys = Object.keys(value as object);
    writeMapHeader(keys.length);
    for (const key of keys) {
      writeString(key);
      writeJson((value as Record<string, unknown>)[key]);
    }
  }
}

function writeMapHeader(length: number): void {
  writeCount(length, 0x80, 0xde, 0xdf);
}

function writeArrayHeader(length: number): void {
  writeCount(length, 0x90, 0xdc, 0xdd);
}

/** A map's or an array's header: a count below 16 in its type byte, a larger one after it. */
function writeCount(length: number, fixed: number, tag16: number, tag32: number): void {
  if (length < 0x10) out[at++] = fixed | length;
  else if (length < 0x10000) {
    out[at++] = tag16;
    writeUint16(length);
  } else {
    out[at++] = tag32;
    writeUint32(length);
  }
}

function field(bytes: Buffer): void {
  // A loop, not `set`: for a dozen bytes the call costs more than the copy. In locals, as in
  // writeString.
  const target = out;
  let position = at;
  for (let i = 0; i < bytes.length; i++) target[position++] = bytes[i]!;
  at = position;
}

function numberField(bytes: Buffer, n: number): 1 {
  field(bytes);
  writeNumber(n);
  return 1;
}

function booleanField(bytes: Buffer, value: boolean): 1 {
  field(bytes);
  out[at++] = value ? 0xc3 : 0xc2;
  return 1;
}

/** Makes room for up to `bound` bytes. */
function start(bound: number): void {
  if (bound > ownBufferBytes) {
    out = Buffer.allocUnsafe(bound);
    at = 0;
    limit = bound;
    return;
  }
  if (slabUsed + bound > slabBytes) {
    slab = Buffer.allocUnsafeSlow(slabBytes);
    slabUsed = 0;
  }
  out = slab;
  at = slabUsed;
  limit = at + bound;
}

function finish(): Uint8Array {
  // A bound too low is a bug that shows only at a slab's end, where a typed array drops the
  // writes past it: checked on every encoding, so that a test finds it.
  // (An if, not assert(): its message closure would be made on every encoding.)
  if (at > limit) {
    throw new AssertionError(`a command encoding outgrew its bound by ${at - limit} bytes`);
  }
  if (out !== slab) return out.subarray(0, at);
  const view = slab.subarray(slabUsed, at);
  slabUsed = at;
  return view;
}

function writeNumber(n: number): void {
  if (n >>> 0 === n) {
    if (n < 0x80) out[at++] = n;
    else if (n < 0x100) {
      out[at++] = 0xcc;
      out[at++] = n;
    } else if (n < 0x10000) {
      out[at++] = 0xcd;
      writeUint16(n);
    } else {
      out[at++] = 0xce;
      writeUint32(n);
    }
  } else if (n >> 0 === n) {
    if (n >= -0x20) out[at++] = n & 0xff;
    else if (n >= -0x80) {
      out[at++] = 0xd0;
      out[at++] = n & 0xff;
    } else if (n >= -0x8000) {
      out[at++] = 0xd1;
      writeUint16(n & 0xffff);
    } else {
      out[at++] = 0xd2;
      writeUint32(n >>> 0);
    }
  } else {
    out[at++] = 0xcb;
    at = out.writeDoubleBE(n, at);
  }
}

function writeUint16(n: number): void {
  out[at++] = n >>> 8;
  out[at++] = n & 0xff;
}

function writeUint32(n: number): void {
  out[at++] = n >>> 24;
  out[at++] = (n >>> 16) & 0xff;
  out[at++] = (n >>> 8) & 0xff;
  out[at++] = n & 0xff;
}

function writeStringHeader(length: number): void {
  if (length < 0x20) out[at++] = 0xa0 | length;
  else writeLength(length, 0xd9, 0xda, 0xdb);
}

/** A str or bin header: the type byte for an 8-, 16- or 32-bit length, then the length. */
function writeLength(length: number, tag8: number, tag16: number, tag32: number): void {
  if (length < 0x100) {
    out[at++] = tag8;
    out[at++] = length;
  } else if (length < 0x10000) {
    out[at++] = tag16;
    writeUint16(length);
  } else {
    out[at++] = tag32;
    writeUint32(length);
  }
}

function writeString(text: string): void {
  // Keys are nearly always ASCII: written a character at a time, which costs less than a
  // call into Buffer#write. Any other string is msgpackr's, byte for byte (its UTF-8 of a
  // lone surrogate differs from Buffer's, and a key must not change with the encoder).
  const begin = at;
  writeStringHeader(text.length);
  // In locals: the module's `out` and `at` live in its context, a load and a store per byte.
  const target = out;
  let position = at;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      at = begin;
      writeRaw(packr.pack(text));
      return;
    }
    target[position++] = c;
  }
  at = position;
}

function writeBin(bytes: Uint8Array): void {
  writeLength(bytes.length, 0xc4, 0xc5, 0xc6);
  writeRaw(bytes);
}

function writeRaw(bytes: Uint8Array): void {
  out.set(bytes, at);
  at += bytes.length;
}
