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
  let raw: unknown;
  try {
    raw = packr.unpack(body);
  } catch (error) {
    return { bad: true, id: null, message: `undecodable frame: ${(error as Error).message}` };
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
          memberId: r.string('memberId'),
          address: r.string('address'),
          clusterId: r.nullableString('clusterId'),
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
        const zone = r.optionalString('zone');
        return {
          kind: 'join',
          id,
          name: r.string('name'),
          memberId: r.string('memberId'),
          address: r.string('address'),
          clusterId: r.nullableString('clusterId'),
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

/** The fields of a command as they go on the wire (the inverse of readCommand). */
function commandFields(command: Command): Fields {
  const { op: _op, ...fields } = command;
  return fields;
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
    case 'command': {
      const fields = commandFields(request.command);
      if (request.seq !== undefined) fields['seq'] = request.seq;
      if (request.ackedBelow !== undefined) fields['acked'] = request.ackedBelow;
      if (request.epoch !== undefined) fields['epoch'] = request.epoch;
      if (request.readFrom !== undefined) fields['readFrom'] = request.readFrom;
      if (request.durability !== undefined) fields['durability'] = request.durability;
      if (request.forward === true) fields['forward'] = true;
      return packr.pack([Op[request.command.op], request.id, fields]);
    }
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
