/**
 * Patch: field operations on a stored document, applied all at once or not at all.
 *
 * Sessions are written by many requests at once (two tabs, a page and its XHRs). If each
 * request read the whole session and wrote it back, the last writer would erase the others'
 * changes. A patch instead names the fields it changes (set, unset, incr, add to a set,
 * remove from a set), and the primary applies it to the current value, so concurrent
 * patches of different fields both survive and concurrent increments both count.
 *
 * Steps, as the store runs them:
 *  1. `preparePatch` checks the whole request before the stored value is even decoded: the
 *     number of operations, each path, each operand. It copies the operands, so the document
 *     never shares an object with the caller and later operations may change what earlier
 *     ones inserted.
 *  2. The store decodes the current value (a fresh object graph nobody else holds), or starts
 *     from `{}`.
 *  3. `applyPatch` runs the operations in order on that graph. The first one that cannot apply
 *     refuses the whole patch; the store then drops the half-changed graph and keeps the
 *     stored bytes, which is what makes a patch atomic without an undo log.
 *  4. The store encodes the result and writes it like a `set`.
 *
 * Paths are dotted field names (`cart.items`) that pass through objects only: array elements
 * are not addressable. A missing object on the way is created by set, incr and add, and means
 * there is nothing to do for unset and remove; anything else on the way is a BAD_REQUEST.
 *
 * Safety: a path is attacker-controlled text used as property names. A segment of
 * `__proto__`, `constructor` or `prototype` is refused outright, so no path can reach an
 * object's prototype or its constructor, and every read uses own properties only
 * (Object.hasOwn), so an inherited name such as `toString` is just a missing field. Operand
 * values may not carry an own `__proto__` key either, since copying it would set a prototype.
 */
import { ErrorCode } from '../core/errors.js';
import { patchOpsMax, patchPathDepthMax } from '../core/limits.js';
import { isPlainObject, jsonKey } from './json-equal.js';
import type { Failure, PatchOp } from './types.js';

/** A patch whose paths are split and whose operands are checked and copied. */
export interface PreparedPatch {
  readonly ops: readonly PreparedOp[];
}

type PreparedOp =
  | { readonly op: 'set'; readonly path: readonly string[]; readonly value: unknown }
  | { readonly op: 'unset'; readonly path: readonly string[] }
  | { readonly op: 'incr'; readonly path: readonly string[]; readonly by: number }
  | { readonly op: 'add' | 'remove'; readonly path: readonly string[]; readonly values: unknown[] };

const forbiddenSegments: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Thrown inside this module only, to unwind a patch at its first refusal. */
class Refusal extends Error {}

function badRequest(message: string): Failure {
  return { code: ErrorCode.BAD_REQUEST, message };
}

/** Checks a whole patch request and copies its operands; nothing is decoded yet. */
export function preparePatch(ops: readonly PatchOp[]): PreparedPatch | Failure {
  if (!Array.isArray(ops)) return badRequest('patch ops must be an array');
  if (ops.length > patchOpsMax) {
    return badRequest(`a patch has at most ${patchOpsMax} ops, got ${ops.length}`);
  }
  const prepared: PreparedOp[] = [];
  try {
    for (let i = 0; i < ops.length; i++) prepared.push(prepareOp(ops[i], i));
  } catch (error) {
    if (error instanceof Refusal) return badRequest(error.message);
    throw error;
  }
  return { ops: prepared };
}

function prepareOp(op: PatchOp | undefined, index: number): PreparedOp {
  if (!isPlainObject(op)) throw new Refusal(`patch op ${index} must be an object`);
  const path = splitPath(op.path, index);
  const where = `patch op ${index} (${String(op.op)} ${String(op.path)})`;
  switch (op.op) {
    case 'set':
      if (op.value === undefined) throw new Refusal(`${where}: value is missing; use unset`);
      return { op: 'set', path, value: copyJson(op.value, where) };
    case 'unset':
      return { op: 'unset', path };
    case 'incr':
      if (typeof op.by !== 'number' || !Number.isFinite(op.by)) {
        throw new Refusal(`${where}: by must be a finite number`);
      }
      return { op: 'incr', path, by: op.by };
    case 'add':
    case 'remove': {
      if (!Array.isArray(op.values)) throw new Refusal(`${where}: values must be an array`);
      const values = op.values.map((v: unknown) => {
        if (v === undefined) throw new Refusal(`${where}: values must not contain undefined`);
        return copyJson(v, where);
      });
      return { op: op.op, path, values };
    }
    default:
      throw new Refusal(
        `patch op ${index}: unknown op ${JSON.stringify((op as { op: unknown }).op)}`,
      );
  }
}

function splitPath(path: unknown, index: number): string[] {
  if (typeof path !== 'string') throw new Refusal(`patch op ${index}: path must be a string`);
  const segments = path.split('.');
  if (segments.length > patchPathDepthMax) {
    throw new Refusal(
      `patch op ${index}: path ${path} has ${segments.length} segments, at most ${patchPathDepthMax}`,
    );
  }
  for (const segment of segments) {
    if (segment === '') throw new Refusal(`patch op ${index}: path "${path}" has an empty segment`);
    if (forbiddenSegments.has(segment)) {
      throw new Refusal(`patch op ${index}: path ${path} names ${segment}, which is not allowed`);
    }
  }
  return segments;
}

/**
 * A deep copy of a JSON-compatible value (plus Uint8Array, which MessagePack carries as
 * `bin`). Refuses what JSON cannot say (functions, symbols, bigints, NaN and infinities, class
 * instances) so that a patch cannot store what a client could not read back as a document.
 */
/**
 * How deep a patch operand may nest. A session is a few levels deep; the copy recurses, and
 * a value thousands of levels deep would overflow the stack (a RangeError, not a refusal).
 */
const operandDepthMax = 512;

function copyJson(value: unknown, where: string, depth = 0): unknown {
  if (depth > operandDepthMax) {
    throw new Refusal(`${where}: a value nests deeper than ${operandDepthMax} levels`);
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new Refusal(`${where}: ${value} is not a JSON number`);
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        return value.map((element: unknown) => {
          if (element === undefined) throw new Refusal(`${where}: an array holds undefined`);
          return copyJson(element, where, depth + 1);
        });
      }
      // new Uint8Array(bytes) copies; a Buffer's slice() would share the caller's memory.
      if (value instanceof Uint8Array) return new Uint8Array(value);
      if (!isPlainObject(value)) throw new Refusal(`${where}: a value is not a plain object`);
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (key === '__proto__') throw new Refusal(`${where}: a value has a __proto__ key`);
        const field = value[key];
        // JSON drops an undefined field; so does the copy.
        if (field !== undefined) copy[key] = copyJson(field, where, depth + 1);
      }
      return copy;
    }
    default:
      throw new Refusal(`${where}: a ${typeof value} is not a JSON value`);
  }
}

/**
 * Applies a prepared patch to `doc` in place. On a refusal `doc` is left half-changed: the
 * caller must drop it (it is a freshly decoded copy, see step 3 above).
 */
export function applyPatch(doc: Record<string, unknown>, patch: PreparedPatch): Failure | null {
  try {
    for (let i = 0; i < patch.ops.length; i++) {
      const op = patch.ops[i];
      if (op !== undefined) applyOp(doc, op, i);
    }
    return null;
  } catch (error) {
    if (error instanceof Refusal) return badRequest(error.message);
    throw error;
  }
}

function applyOp(doc: Record<string, unknown>, op: PreparedOp, index: number): void {
  const where = `patch op ${index} (${op.op} ${op.path.join('.')})`;
  const creates = op.op === 'set' || op.op === 'incr' || op.op === 'add';
  const parent = parentOf(doc, op.path, creates, where);
  if (parent === null) return;
  const field = op.path[op.path.length - 1] as string;
  const current = Object.hasOwn(parent, field) ? parent[field] : undefined;
  switch (op.op) {
    case 'set':
      parent[field] = op.value;
      return;
    case 'unset':
      if (current !== undefined) delete parent[field];
      return;
    case 'incr': {
      if (current !== undefined && typeof current !== 'number') {
        throw new Refusal(`${where}: the field holds a ${describe(current)}, not a number`);
      }
      const next = (current ?? 0) + op.by;
      if (!Number.isFinite(next)) throw new Refusal(`${where}: the result is not a finite number`);
      parent[field] = next;
      return;
    }
    case 'add': {
      if (current !== undefined && !Array.isArray(current)) {
        throw new Refusal(`${where}: the field holds a ${describe(current)}, not an array`);
      }
      const array: unknown[] = current ?? [];
      // The values present by their key (jsonKey): a scan per value made an add of N values
      // to N elements take N^2 comparisons, seconds for a frame of 80,000 of them.
      const present = new ValueSet();
      for (const element of array) present.insert(element);
      for (const value of op.values) if (present.add(value)) array.push(value);
      parent[field] = array;
      return;
    }
    case 'remove': {
      if (current === undefined) return;
      if (!Array.isArray(current)) {
        throw new Refusal(`${where}: the field holds a ${describe(current)}, not an array`);
      }
      const removing = new ValueSet();
      for (const value of op.values) removing.insert(value);
      let kept = 0;
      for (const element of current as unknown[]) {
        if (!removing.has(element)) current[kept++] = element;
      }
      current.length = kept;
      return;
    }
  }
}

/**
 * A set of values that finds exactly the values jsonEqual finds equal, without comparing each
 * pair: primitives by ===, which is jsonEqual's test for them, and documents by their jsonKey,
 * kept apart so that the string "[1,]" is not taken for the array [1]. A value equal to
 * nothing else (NaN, a document holding it) is never found. Documents put in with `insert`
 * are keyed only once a document is looked up: an add of primitives to a list of documents
 * computes no key.
 */
class ValueSet {
  private readonly primitives = new Set<unknown>();
  private readonly documents = new Set<string>();
  private unkeyed: object[] = [];

  /** Puts `value` in. */
  insert(value: unknown): void {
    if (typeof value === 'object' && value !== null) this.unkeyed.push(value);
    else if (!Number.isNaN(value)) this.primitives.add(value);
  }

  /** Puts `value` in; false when an equal value was there already. */
  add(value: unknown): boolean {
    if (typeof value !== 'object' || value === null) {
      if (Number.isNaN(value)) return true;
      if (this.primitives.has(value)) return false;
      this.primitives.add(value);
      return true;
    }
    this.keyUnkeyed();
    const key = jsonKey(value);
    if (key === null) return true;
    if (this.documents.has(key)) return false;
    this.documents.add(key);
    return true;
  }

  has(value: unknown): boolean {
    if (typeof value !== 'object' || value === null) {
      return !Number.isNaN(value) && this.primitives.has(value);
    }
    this.keyUnkeyed();
    if (this.documents.size === 0) return false;
    const key = jsonKey(value);
    return key !== null && this.documents.has(key);
  }

  private keyUnkeyed(): void {
    for (const document of this.unkeyed) {
      const key = jsonKey(document);
      if (key !== null) this.documents.add(key);
    }
    this.unkeyed = [];
  }
}

/**
 * The object holding the path's last field. Missing objects on the way are created when
 * `create`; otherwise a missing one means the field is absent (null).
 */
function parentOf(
  doc: Record<string, unknown>,
  path: readonly string[],
  create: boolean,
  where: string,
): Record<string, unknown> | null {
  let object = doc;
  for (let i = 0; i < path.length - 1; i++) {
    const segment = path[i] as string;
    const next = Object.hasOwn(object, segment) ? object[segment] : undefined;
    if (next === undefined) {
      if (!create) return null;
      const created: Record<string, unknown> = {};
      object[segment] = created;
      object = created;
    } else if (isPlainObject(next)) {
      object = next;
    } else {
      const at = path.slice(0, i + 1).join('.');
      throw new Refusal(`${where}: ${at} holds a ${describe(next)}, not an object`);
    }
  }
  return object;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'binary value';
  return typeof value;
}
