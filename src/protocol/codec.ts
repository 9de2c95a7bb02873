/**
 * Encoding and validating protocol messages.
 *
 * Decoding is where untrusted bytes become typed values, so it checks everything a handler
 * will rely on: the shape of the array, every field's type, integer ranges. It never throws
 * on bad input: it returns a `BadMessage` naming what is wrong, with the request id when one
 * could be read, so the node can answer BAD_REQUEST to that request and go on serving the
 * connection. (A frame that is not even MessagePack gets the same treatment: the framing is
 * intact, only that frame is bad.)
 */
import { createPackr } from '../core/msgpack.js';
import { ErrorCode, isErrorCode, type ErrorMeta } from '../core/errors.js';
import { patchOpsMax } from '../core/limits.js';
import { encodeCommand } from './command-encoder.js';
import type { Command, PatchOp } from '../store/types.js';
import {
  Op,
  opNames,
  ReplyStatus,
  type CommandRequest,
  type Durability,
  type ReadFrom,
  type Request,
  type WireError,
} from './messages.js';
import { isPlainMap, isUint, type Fields } from '../core/shape.js';

const packr = createPackr();

/** A readonly message type under construction, one optional field at a time. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface BadMessage {
  readonly bad: true;
  /** The request id, when the frame got far enough to carry one. */
  readonly id: number | null;
  readonly message: string;
}

const requestIdMax = 0xffffffff;
/** Member ids, names, addresses and cluster ids (the control plane's own bound). */
const identifierLengthMax = 256;

class FieldError extends Error {}

/** Reads typed fields from a decoded map, throwing FieldError (caught below) on a mismatch. */
class FieldReader {
  constructor(
    private readonly fields: Fields,
    private readonly op: string,
  ) {}

  private fail(name: string, expected: string): never {
    throw new FieldError(`${this.op}: field '${name}' must be ${expected}`);
  }

  string(name: string): string {
    const v = this.fields[name];
    if (typeof v !== 'string') this.fail(name, 'a string');
    return v;
  }

  /**
   * A member id, name, address or cluster id: 1 to 256 characters. Nodes keep them (the
   * peer table, the control plane's log), so one from the network must be bounded.
   */
  identifier(name: string): string {
    const v = this.fields[name];
    if (typeof v !== 'string' || v.length === 0 || v.length > identifierLengthMax) {
      this.fail(name, `a string of 1 to ${identifierLengthMax} characters`);
    }
    return v;
  }

  optionalIdentifier(name: string): string | undefined {
    const v = this.fields[name];
    return v === undefined || v === null ? undefined : this.identifier(name);
  }

  nullableIdentifier(name: string): string | null {
    const v = this.fields[name];
    return v === null || v === undefined ? null : this.identifier(name);
  }

  optionalString(name: string): string | undefined {
    const v = this.fields[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(name, 'a string');
    return v;
  }

  bytes(name: string): Uint8Array {
    const v = this.fields[name];
    if (!(v instanceof Uint8Array)) this.fail(name, 'binary (an encoded value)');
    return v;
  }

  optionalUint(name: string): number | undefined {
    const v = this.fields[name];
    if (v === undefined || v === null) return undefined;
    if (!isUint(v)) this.fail(name, 'a non-negative integer');
    return v;
  }

  uint(name: string): number {
    const v = this.optionalUint(name);
    if (v === undefined) this.fail(name, 'a non-negative integer');
    return v;
  }

  nullableString(name: string): string | null {
    const v = this.fields[name];
    if (v === null || v === undefined) return null;
    if (typeof v !== 'string') this.fail(name, 'a string or nil');
    return v;
  }

  raw(name: string): unknown {
    return this.fields[name];
  }

  optionalBool(name: string): boolean | undefined {
    const v = this.fields[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(name, 'a boolean');
    return v;
  }

  optionalEnum<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.fields[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(name, `one of ${allowed.join(', ')}`);
    }
    return v as T;
  }

  patchOps(name: string): PatchOp[] {
    const v = this.fields[name];
    if (!Array.isArray(v)) this.fail(name, 'an array of patch operations');
    if (v.length > patchOpsMax) this.fail(name, `at most ${patchOpsMax} operations`);
    return v.map((raw, i) => readPatchOp(raw, `${this.op}: ${name}[${i}]`));
  }
}

function readPatchOp(raw: unknown, where: string): PatchOp {
  if (!isPlainMap(raw)) throw new FieldError(`${where} must be a map`);
  const path = raw['path'];
  if (typeof path !== 'string') throw new FieldError(`${where}.path must be a string`);
  switch (raw['op']) {
    case 'set':
      if (!('value' in raw) || raw['value'] === undefined)
        throw new FieldError(`${where}.value is required`);
      return { op: 'set', path, value: raw['value'] };
    case 'unset':
      return { op: 'unset', path };
    case 'incr': {
      const by = raw['by'];
      if (typeof by !== 'number' || !Number.isFinite(by))
        throw new FieldError(`${where}.by must be a finite number`);
      return { op: 'incr', path, by };
    }
    case 'add':
    case 'remove': {
      const values = raw['values'];
      if (!Array.isArray(values)) throw new FieldError(`${where}.values must be an array`);
      return { op: raw['op'], path, values };
    }
    default:
      throw new FieldError(`${where}.op must be one of set, unset, incr, add, remove`);
  }
}

function readCommand(op: number, r: FieldReader): Command {
  switch (op) {
    case Op.get:
      return { op: 'get', key: r.string('key') };
    case Op.set: {
      const ttlMs = r.optionalUint('ttlMs');
      const keepTtl = r.optionalBool('keepTtl');
      const ifVersion = r.optionalUint('ifVersion');
      const ifAbsent = r.optionalBool('ifAbsent');
      // Field by field rather than with conditional spreads: every write comes through here.
      const set: Mutable<Extract<Command, { op: 'set' }>> = {
        op: 'set',
        key: r.string('key'),
        value: r.bytes('value'),
      };
      if (ttlMs !== undefined) set.ttlMs = ttlMs;
      if (keepTtl !== undefined) set.keepTtl = keepTtl;
      if (ifVersion !== undefined) set.ifVersion = ifVersion;
      if (ifAbsent !== undefined) set.ifAbsent = ifAbsent;
      return set;
    }
    case Op.delete: {
      const ifVersion = r.optionalUint('ifVersion');
      return { op: 'delete', key: r.string('key'), ...(ifVersion !== undefined && { ifVersion }) };
    }
    case Op.touch:
      return { op: 'touch', key: r.string('key'), ttlMs: r.uint('ttlMs') };
    case Op.cas: {
      const ttlMs = r.optionalUint('ttlMs');
      return {
        op: 'cas',
        key: r.string('key'),
        expected: r.bytes('expected'),
        value: r.bytes('value'),
        ...(ttlMs !== undefined && { ttlMs }),
      };
    }
    case Op.patch: {
      const ttlMs = r.optionalUint('ttlMs');
      const ifVersion = r.optionalUint('ifVersion');
      const create = r.optionalBool('create');
      const returnValue = r.optionalBool('returnValue');
      return {
        op: 'patch',
        key: r.string('key'),
        ops: r.patchOps('ops'),
        ...(ttlMs !== undefined && { ttlMs }),
        ...(ifVersion !== undefined && { ifVersion }),
        ...(create !== undefined && { create }),
        ...(returnValue !== undefined && { returnValue }),
      };
    }
    case Op.ttl:
      return { op: 'ttl', key: r.string('key') };
    default:
      throw new FieldError(`unknown operation ${op}`);
  }
}

const readFroms: readonly ReadFrom[] = ['primary', 'any'];
/** The most partitions one accept-loss request may name (the largest table has 16384). */
const partitionsNamedMax = 1 << 16;
const durabilities: readonly Durability[] = ['sync', 'async'];

/** Decodes and validates one request frame body. Never throws. */
export function decodeRequest(body: Uint8Array): Request | BadMessage {
  return decodeCommandFast(body) ?? decodeRequestSlow(body);
}

// ---- the fast path for get and set ------------------------------------------------------

/**
 * The requests a node reads most, get and set, decoded straight from their bytes. Through
 * msgpackr, the request's map became an object with dynamically named properties, its keys
 * interned strings, and the reader then looked each name up: on a node under load that was
 * most of msgpackr's share of the CPU. Here the bytes are walked once, field names compared
 * as bytes, values kept in locals.
 *
 * It takes only what it is sure of: `[op, id, {fields}]` with op get or set, a fixmap of
 * known ASCII field names, values of the types those fields take in the encodings msgpackr
 * writes for them (fixint and uint8/16/32 for numbers, fixstr/str8/str16 of ASCII for
 * strings, bin8/16/32 for the value, true and false), and nothing after the map. Anything
 * else, valid or not, returns undefined and goes through decodeRequestSlow, which answers
 * exactly as before (a property test holds the two to the same answers).
 */
const fieldKey = 1;
const fieldValue = 2;
const fieldTtlMs = 3;
const fieldKeepTtl = 4;
const fieldIfVersion = 5;
const fieldIfAbsent = 6;
const fieldSeq = 7;
const fieldAcked = 8;
const fieldEpoch = 9;
const fieldReadFrom = 10;
const fieldDurability = 11;
const fieldForward = 12;

/** The field names, each by its bytes (all ASCII), for FastReader.field below. */
const fastFields = (
  [
    ['key', fieldKey],
    ['value', fieldValue],
    ['ttlMs', fieldTtlMs],
    ['keepTtl', fieldKeepTtl],
    ['ifVersion', fieldIfVersion],
    ['ifAbsent', fieldIfAbsent],
    ['seq', fieldSeq],
    ['acked', fieldAcked],
    ['epoch', fieldEpoch],
    ['readFrom', fieldReadFrom],
    ['durability', fieldDurability],
    ['forward', fieldForward],
  ] as const
).map(([name, field]) => ({ name: Buffer.from(name, 'latin1'), field }));

/** A cursor over one body; every read checks the bounds and fails soft (NaN / null). */
class FastReader {
  offset = 0;
  ok = true;
  /** The body as a Buffer (a view, no copy), for decoding strings in one call. */
  private readonly buffer: Buffer;
  constructor(readonly bytes: Uint8Array) {
    this.buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private byte(): number {
    if (this.offset >= this.bytes.length) {
      this.ok = false;
      return 0;
    }
    return this.bytes[this.offset++]!;
  }

  /** A non-negative integer as msgpackr writes one below 2^32; otherwise fails. */
  uint(): number {
    const b = this.byte();
    if (b <= 0x7f) return b;
    const n = b === 0xcc ? 1 : b === 0xcd ? 2 : b === 0xce ? 4 : 0;
    if (n === 0 || this.offset + n > this.bytes.length) {
      this.ok = false;
      return 0;
    }
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.bytes[this.offset++]!;
    return v;
  }

  bool(): boolean {
    const b = this.byte();
    if (b !== 0xc2 && b !== 0xc3) this.ok = false;
    return b === 0xc3;
  }

  /**
   * The length of an ASCII string (fixstr, str8, str16) starting here, its bytes checked,
   * the offset left at its first byte; -1 (and failed) for anything else.
   */
  private asciiLength(): number {
    const b = this.byte();
    let n: number;
    if (b >= 0xa0 && b <= 0xbf) n = b - 0xa0;
    else if (b === 0xd9) n = this.byte();
    else if (b === 0xda) n = this.byte() * 256 + this.byte();
    else n = -1;
    const end = this.offset + n;
    if (n < 0 || !this.ok || end > this.bytes.length) {
      this.ok = false;
      return -1;
    }
    for (let i = this.offset; i < end; i++) {
      if (this.bytes[i]! >= 0x80) {
        this.ok = false;
        return -1;
      }
    }
    return n;
  }

  /** An ASCII string (fixstr, str8, str16); anything else fails. */
  ascii(): string {
    const n = this.asciiLength();
    if (n < 0) return '';
    // One string made from the bytes: built a character at a time, a 40-character key cost
    // a node under load over a kilobyte of garbage per get.
    const out = this.buffer.toString('latin1', this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** A field name among fastFields, matched as bytes (no string made); 0 for any other. */
  field(): number {
    const n = this.asciiLength();
    if (n < 0) return 0;
    const start = this.offset;
    this.offset += n;
    for (const { name, field } of fastFields) {
      if (name.length !== n) continue;
      let i = 0;
      while (i < n && name[i] === this.bytes[start + i]) i++;
      if (i === n) return field;
    }
    return 0;
  }

  /** bin8/16/32: a view of the body, as msgpackr gives one. */
  bin(): Uint8Array {
    const b = this.byte();
    let n: number;
    if (b === 0xc4) n = this.byte();
    else if (b === 0xc5) n = this.byte() * 256 + this.byte();
    else if (b === 0xc6) n = this.uintBytes(4);
    else {
      this.ok = false;
      return emptyBytes;
    }
    const end = this.offset + n;
    if (!this.ok || end > this.bytes.length) {
      this.ok = false;
      return emptyBytes;
    }
    const view = this.bytes.subarray(this.offset, end);
    this.offset = end;
    return view;
  }

  private uintBytes(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.byte();
    return v;
  }
}

const emptyBytes = new Uint8Array(0);

function decodeCommandFast(body: Uint8Array): CommandRequest | undefined {
  // [op, id, {...}]: fixarray of 3, op 10 (get) or 11 (set).
  if (body.length < 4 || body[0] !== 0x93) return undefined;
  const op = body[1];
  if (op !== Op.get && op !== Op.set) return undefined;
  const r = new FastReader(body);
  r.offset = 2;
  const id = r.uint();
  const header = body[r.offset++];
  if (!r.ok || header === undefined || header < 0x80 || header > 0x8f) return undefined;
  let key: string | undefined;
  let value: Uint8Array | undefined;
  let ttlMs: number | undefined;
  let keepTtl: boolean | undefined;
  let ifVersion: number | undefined;
  let ifAbsent: boolean | undefined;
  let seq: number | undefined;
  let acked: number | undefined;
  let epoch: number | undefined;
  let readFrom: ReadFrom | undefined;
  let durability: Durability | undefined;
  let forward: boolean | undefined;
  for (let i = header - 0x80; i > 0; i--) {
    const field = r.field();
    if (!r.ok || field === 0) return undefined;
    switch (field) {
      case fieldKey:
        key = r.ascii();
        break;
      case fieldValue:
        value = r.bin();
        break;
      case fieldTtlMs:
        ttlMs = r.uint();
        break;
      case fieldKeepTtl:
        keepTtl = r.bool();
        break;
      case fieldIfVersion:
        ifVersion = r.uint();
        break;
      case fieldIfAbsent:
        ifAbsent = r.bool();
        break;
      case fieldSeq:
        seq = r.uint();
        break;
      case fieldAcked:
        acked = r.uint();
        break;
      case fieldEpoch:
        epoch = r.uint();
        break;
      case fieldReadFrom: {
        const v = r.ascii();
        if (v !== 'primary' && v !== 'any') return undefined;
        readFrom = v;
        break;
      }
      case fieldDurability: {
        const v = r.ascii();
        if (v !== 'sync' && v !== 'async') return undefined;
        durability = v;
        break;
      }
      case fieldForward:
        forward = r.bool();
        break;
    }
    if (!r.ok) return undefined;
  }
  if (r.offset !== body.length || key === undefined) return undefined;
  let command: Command;
  if (op === Op.get) {
    // A get with a set's fields is for the slow path to judge as it always has.
    if (value !== undefined || ttlMs !== undefined || keepTtl !== undefined) return undefined;
    if (ifVersion !== undefined || ifAbsent !== undefined) return undefined;
    command = { op: 'get', key };
  } else {
    if (value === undefined) return undefined;
    const set: Mutable<Extract<Command, { op: 'set' }>> = { op: 'set', key, value };
    if (ttlMs !== undefined) set.ttlMs = ttlMs;
    if (keepTtl !== undefined) set.keepTtl = keepTtl;
    if (ifVersion !== undefined) set.ifVersion = ifVersion;
    if (ifAbsent !== undefined) set.ifAbsent = ifAbsent;
    command = set;
  }
  const request: Mutable<CommandRequest> = { kind: 'command', id, command };
  if (seq !== undefined) request.seq = seq;
  if (acked !== undefined) request.ackedBelow = acked;
  if (epoch !== undefined) request.epoch = epoch;
  if (readFrom !== undefined) request.readFrom = readFrom;
  if (durability !== undefined) request.durability = durability;
  if (forward === true) request.forward = forward;
  return request;
}

/** Every request, through msgpackr and the field reader. Never throws. */
/**
 * The request id of a frame whose body cannot be decoded whole (nested too deep for the
 * decoder, say), read from the header `[op, id, ...` by hand, so that the error answers the
 * request it is about; null when even that cannot be read.
 */
function headerId(body: Uint8Array): number | null {
  if (body.length < 3 || (body[0] !== 0x92 && body[0] !== 0x93)) return null;
  // op: a positive fixint or a uint8.
  let at = body[1]! <= 0x7f ? 2 : body[1] === 0xcc ? 3 : -1;
  if (at < 0 || at >= body.length) return null;
  const tag = body[at]!;
  at++;
  if (tag <= 0x7f) return tag;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (tag === 0xcc && at + 1 <= body.length) return view.getUint8(at);
  if (tag === 0xcd && at + 2 <= body.length) return view.getUint16(at);
  if (tag === 0xce && at + 4 <= body.length) return view.getUint32(at);
  return null;
}

export function decodeRequestSlow(body: Uint8Array): Request | BadMessage {
  let raw: unknown;
  try {
    raw = packr.unpack(body);
  } catch (error) {
    return {
      bad: true,
      id: headerId(body),
      message: `undecodable frame: ${(error as Error).message}`,
    };
  }
  if (!Array.isArray(raw) || raw.length < 2 || raw.length > 3) {
    return { bad: true, id: null, message: 'a request must be the array [op, id, body]' };
  }
  const [op, id, fields = {}] = raw as [unknown, unknown, unknown];
  if (!isUint(id, requestIdMax)) {
    return { bad: true, id: null, message: 'request id must be an unsigned 32-bit integer' };
  }
  if (!isUint(op, 0xff)) return { bad: true, id, message: 'op must be a small unsigned integer' };
  const name = opNames.get(op);
  if (name === undefined) return { bad: true, id, message: `unknown operation ${op}` };
  if (!isPlainMap(fields)) return { bad: true, id, message: `${name}: body must be a map` };
  const r = new FieldReader(fields, name);
  try {
    switch (op) {
      case Op.hello: {
        const token = r.optionalString('token');
        return {
          kind: 'hello',
          id,
          protocol: r.uint('protocol'),
          client: r.string('client'),
          clientId: r.string('clientId'),
          ...(token !== undefined && { token }),
        };
      }
      case Op.ping:
        return { kind: 'ping', id };
      case Op.table:
        return { kind: 'table', id };
      case Op.status: {
        const linearizable = r.optionalBool('linearizable');
        return { kind: 'status', id, ...(linearizable !== undefined && { linearizable }) };
      }
      case Op.peerHello: {
        const token = r.optionalString('token');
        return {
          kind: 'peerHello',
          id,
          protocol: r.uint('protocol'),
          memberId: r.identifier('memberId'),
          address: r.identifier('address'),
          clusterId: r.nullableIdentifier('clusterId'),
          ...(token !== undefined && { token }),
        };
      }
      case Op.raft:
        return { kind: 'raft', id, message: r.raw('message') };
      case Op.repl:
        return { kind: 'repl', id, message: r.raw('message') };
      case Op.report:
        return { kind: 'report', id, report: r.raw('report') };
      case Op.forward:
        return { kind: 'forward', id, clientId: r.string('clientId'), request: r.bytes('request') };
      case Op.forwarded:
        return { kind: 'forwarded', id, reply: r.bytes('reply') };
      case Op.acceptLoss: {
        const partitions = r.raw('partitions');
        if (partitions === undefined || partitions === null) return { kind: 'acceptLoss', id };
        if (
          !Array.isArray(partitions) ||
          partitions.length > partitionsNamedMax ||
          !partitions.every((p) => isUint(p))
        )
          throw new FieldError(
            `acceptLoss: field 'partitions' must be an array of at most ${partitionsNamedMax} partition numbers`,
          );
        return { kind: 'acceptLoss', id, partitions: partitions as number[] };
      }
      case Op.drain: {
        const memberId = r.optionalString('memberId');
        return { kind: 'drain', id, ...(memberId !== undefined && { memberId }) };
      }
      case Op.join: {
        const zone = r.optionalIdentifier('zone');
        return {
          kind: 'join',
          id,
          name: r.identifier('name'),
          memberId: r.identifier('memberId'),
          address: r.identifier('address'),
          clusterId: r.nullableIdentifier('clusterId'),
          ...(zone !== undefined && { zone }),
        };
      }
      default: {
        const command = readCommand(op, r);
        const seq = r.optionalUint('seq');
        const ackedBelow = r.optionalUint('acked');
        const epoch = r.optionalUint('epoch');
        const readFrom = r.optionalEnum('readFrom', readFroms);
        const durability = r.optionalEnum('durability', durabilities);
        const forward = r.optionalBool('forward');
        const request: Mutable<CommandRequest> = { kind: 'command', id, command };
        if (seq !== undefined) request.seq = seq;
        if (ackedBelow !== undefined) request.ackedBelow = ackedBelow;
        if (epoch !== undefined) request.epoch = epoch;
        if (readFrom !== undefined) request.readFrom = readFrom;
        if (durability !== undefined) request.durability = durability;
        if (forward === true) request.forward = forward;
        return request;
      }
    }
  } catch (error) {
    if (error instanceof FieldError) return { bad: true, id, message: error.message };
    throw error;
  }
}

export function isBadMessage<T extends object>(value: T | BadMessage): value is BadMessage {
  return 'bad' in value;
}

export function encodeRequest(request: Request): Uint8Array {
  switch (request.kind) {
    case 'hello': {
      const { kind: _k, id, ...fields } = request;
      return packr.pack([Op.hello, id, fields]);
    }
    case 'ping':
      return packr.pack([Op.ping, request.id]);
    case 'table':
      return packr.pack([Op.table, request.id]);
    case 'status':
      return request.linearizable === undefined
        ? packr.pack([Op.status, request.id])
        : packr.pack([Op.status, request.id, { linearizable: request.linearizable }]);
    case 'peerHello':
    case 'raft':
    case 'repl':
    case 'report':
    case 'forward':
    case 'forwarded':
    case 'drain':
    case 'acceptLoss':
    case 'join': {
      const { kind, id, ...fields } = request;
      return packr.pack([Op[kind], id, fields]);
    }
    case 'command':
      return encodeCommand(request.id, request);
  }
}

export function encodeOk(id: number, result: unknown): Uint8Array {
  return packr.pack([id, ReplyStatus.ok, result]);
}

export function encodeError(id: number, error: WireError): Uint8Array {
  const body: Fields = { code: error.code, message: error.message };
  if (error.meta !== undefined) body['meta'] = error.meta;
  return packr.pack([id, ReplyStatus.error, body]);
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/** Decodes a reply frame. Results are checked by the caller that knows the op. */
export function decodeReply(body: Uint8Array): Reply | BadMessage {
  let raw: unknown;
  try {
    raw = packr.unpack(body);
  } catch (error) {
    return { bad: true, id: null, message: `undecodable reply: ${(error as Error).message}` };
  }
  if (!Array.isArray(raw) || raw.length !== 3) {
    return { bad: true, id: null, message: 'a reply must be the array [id, status, body]' };
  }
  const [id, status, payload] = raw as [unknown, unknown, unknown];
  if (!isUint(id, requestIdMax))
    return { bad: true, id: null, message: 'reply id is not a request id' };
  if (status === ReplyStatus.ok) return { id, ok: true, result: payload };
  if (
    status === ReplyStatus.error &&
    isPlainMap(payload) &&
    typeof payload['message'] === 'string'
  ) {
    const code = isErrorCode(payload['code']) ? payload['code'] : ErrorCode.INTERNAL;
    const meta = isPlainMap(payload['meta']) ? (payload['meta'] as ErrorMeta) : undefined;
    return { id, ok: false, error: { code, message: payload['message'], ...(meta && { meta }) } };
  }
  return { bad: true, id, message: 'reply status must be 0 or 1 with an error body' };
}
