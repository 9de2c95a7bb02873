/**
 * Merge on save: a request writes back only what it changed.
 *
 * The lost update. A web framework loads the whole session when a request starts and writes
 * the whole session back when it ends. Two requests of one user that overlap (two tabs, a
 * page and its XHRs, a double click) both load version 1; the one that ends last writes its
 * copy over the other's, and every change the other made is gone. With a cart, items vanish.
 * Every store that saves whole documents (connect-redis, connect-mongo, the memory store)
 * has this race; a lock per session hides it at the cost of serialising the requests.
 *
 * The answer, in four steps:
 *  1. On load, the store keeps a private copy of the document it handed out (`loaded`),
 *     linked to the framework's session object (express.ts and fastify.ts say how).
 *  2. On save, `diffDocuments(loaded, saved)` describes the request's own changes as field
 *     operations: set and unset of fields, add and remove of array elements, increments of
 *     counters. Fields the request did not change produce nothing.
 *  3. The store sends those operations as one `patch` with `create: false`. The partition's
 *     primary applies them, all or none, to whatever is stored *now*: the third side of the
 *     three-way merge. So the changes of requests that overlap all land, and no request can
 *     erase a change it never saw.
 *  4. When the key is absent the patch fails with NOT_FOUND and nothing is written: the
 *     session was destroyed (a logout) or expired while the request ran, and it stays gone.
 *     A brand-new session is written with `set ... ifAbsent` instead, so it cannot overwrite
 *     anything either.
 *
 * The rules of the diff (loaded -> saved), applied per field, recursively through objects:
 *  - A field that is equal (as JSON) on both sides: nothing.
 *  - A field only in `saved`: set. A field only in `loaded`: unset.
 *  - Both plain objects: recurse into their fields, so `prefs.theme` and `prefs.lang` changed by
 *    two requests both survive. Paths listed as atomic (default: `cookie`, whose fields go
 *    together) and objects deeper than the patch path limit are set whole instead.
 *  - Both arrays, each without duplicates (a set, a cart of distinct items), where `saved` is
 *    `loaded` with some elements removed and new ones appended at the end: `remove` of the
 *    removed elements and `add` of the appended ones. Concurrent additions and removals of
 *    different elements all survive; the order of the additions of overlapping requests is
 *    the order their saves reached the primary. Any other change to an array (reordering,
 *    inserting in the middle, duplicates such as a quantity written as repeated items) sets
 *    it whole.
 *  - Both numbers, and the path is listed in `counters`: `incr` by the difference, so two
 *    requests that each count a page view add two. A listed field the request found absent
 *    counts from 0: `incr` by its new value. Numbers not listed are set: a timestamp or
 *    a price is not a counter, and only the application knows which is which.
 *  - Anything else that changed (a string, a boolean, a type change): set whole.
 *
 * What two requests that change the *same* field end with: the last save to reach the
 * partition's primary wins, for a set; for arrays, both requests' element changes apply. The
 * order is the primary's order of the two patches, so every replica agrees on it.
 *
 * When the operations cannot be sent as a patch (a field name that is not a valid path
 * segment: empty, containing a dot, or `__proto__`/`constructor`/`prototype`; a value that
 * holds a `__proto__` key; more than `patchOpsMax` operations), the patch is too large to send
 * (it carries an array's removed elements as well as its added ones, so it can pass the frame
 * limit while the document it leaves fits), or the primary refuses the patch because another
 * request changed the shape under it (an `add` to a field that is now a string), the store
 * falls back to a versioned read-modify-write: read the current document and its version,
 * apply the same operations here with `applyLocally` (which resolves a type conflict by
 * taking this request's value: last writer wins on that field), and write it back with
 * `ifVersion`, retrying on a version mismatch. The outcome is the same three-way merge, at
 * the cost of a round trip more and retries under contention.
 */
import { patchOpsMax, patchPathDepthMax } from '../core/limits.js';
import type { PatchOp } from '../client/index.js';

/** A JSON document: what a session is once serialized. */
export type Doc = Record<string, unknown>;

/** One change of a request, with the path as segments (a segment may contain a dot). */
export type FieldOp =
  | { readonly op: 'set'; readonly path: readonly string[]; readonly value: unknown }
  | { readonly op: 'unset'; readonly path: readonly string[] }
  | {
      readonly op: 'incr';
      readonly path: readonly string[];
      readonly by: number;
      /** The request's value, used when the stored field is no longer a number. */
      readonly value: number;
    }
  | {
      readonly op: 'add' | 'remove';
      readonly path: readonly string[];
      readonly values: readonly unknown[];
      /** The request's whole array, used when the stored field is no longer an array. */
      readonly value: readonly unknown[];
    };

export interface DiffOptions {
  /** Dotted paths of numbers merged by increment. Default none. */
  readonly counters?: ReadonlySet<string>;
  /** Dotted paths of objects always set whole. Default `cookie`. */
  readonly atomic?: ReadonlySet<string>;
}

const defaultAtomic: ReadonlySet<string> = new Set(['cookie']);
const noCounters: ReadonlySet<string> = new Set();
const forbiddenSegments: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** A `{...}` object: not an array, not a Date or other class instance. */
export function isPlainObject(value: unknown): value is Doc {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A private deep copy of a decoded document, for the request's base: the framework shares
 * the nested objects of what the store hands it, and a handler may change them in place.
 * Plain objects, arrays and primitives (all a session holds) are copied by hand, several
 * times faster than structuredClone; anything else (bytes, a date) goes to structuredClone.
 */
export function copyDocument<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = copyDocument(value[i]);
    return copy as T;
  }
  if (!isPlainObject(value)) return structuredClone(value);
  const copy: Doc = {};
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (key === '__proto__') setField(copy, key, copyDocument(value[key]));
    else copy[key] = copyDocument(value[key]);
  }
  return copy as T;
}

/**
 * A canonical text for a JSON value: objects with sorted keys, undefined fields dropped, so
 * that two documents equal as JSON have the same text, whatever the order of their keys.
 */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonical(v ?? null)).join(',')}]`;
  if (isPlainObject(value)) {
    const parts: string[] = [];
    for (const key of Object.keys(value).sort()) {
      const field = value[key];
      if (field !== undefined) parts.push(`${JSON.stringify(key)}:${canonical(field)}`);
    }
    return `{${parts.join(',')}}`;
  }
  if (value instanceof Uint8Array) return `bin:${Buffer.from(value).toString('base64')}`;
  // Numbers as JSON writes them (so 0 and -0 are the same), strings quoted, null, booleans.
  return JSON.stringify(value) ?? 'null';
}

/**
 * Whether two JSON values are the same document: exactly when their `canonical` texts are
 * equal, without building the texts (a save compares every field it kept, and most are
 * unchanged). A test checks it against `canonical` on arbitrary values.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return sameNested(a, b);
}

/** Equality inside a document, where canonical() writes undefined and NaN as null. */
function sameNested(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    return leafOf(a) === leafOf(b);
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameNested(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (isPlainObject(a) && isPlainObject(b)) {
    let defined = 0;
    for (const key in a) {
      if (!Object.hasOwn(a, key)) continue;
      const field = a[key];
      if (field === undefined) continue;
      defined++;
      const other = Object.hasOwn(b, key) ? b[key] : undefined;
      if (other === undefined || !sameNested(field, other)) return false;
    }
    for (const key in b) {
      if (Object.hasOwn(b, key) && b[key] !== undefined) defined--;
    }
    return defined === 0;
  }
  // Bytes, dates, class instances: rare in a session; the slow obvious comparison.
  return canonical(a) === canonical(b);
}

/**
 * A primitive as canonical() writes it, as a value that compares with ===: undefined, NaN
 * and the infinities are null in JSON, and 0 equals -0 under === already.
 */
function leafOf(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}

/** The changes that turn `loaded` into `saved`, by the rules in the essay above. */
export function diffDocuments(loaded: Doc, saved: Doc, options: DiffOptions = {}): FieldOp[] {
  const ops: FieldOp[] = [];
  diffInto(ops, [], loaded, saved, options.counters ?? noCounters, options.atomic ?? defaultAtomic);
  return ops;
}

function fieldOf(doc: Doc, key: string): unknown {
  return Object.hasOwn(doc, key) ? doc[key] : undefined;
}

function diffInto(
  ops: FieldOp[],
  path: readonly string[],
  loaded: Doc,
  saved: Doc,
  counters: ReadonlySet<string>,
  atomic: ReadonlySet<string>,
): void {
  // Only the changed keys are collected, then sorted, so the same two documents always give
  // the same operations in the same order without sorting every key of every save.
  let changed: string[] | null = null;
  for (const key in saved) {
    if (!Object.hasOwn(saved, key) || saved[key] === undefined) continue;
    if (!sameJson(fieldOf(loaded, key), saved[key])) (changed ??= []).push(key);
  }
  for (const key in loaded) {
    if (!Object.hasOwn(loaded, key) || loaded[key] === undefined) continue;
    if (fieldOf(saved, key) === undefined) (changed ??= []).push(key);
  }
  if (changed === null) return;
  // An insertion sort: a save changes a key or two, and Array#sort allocates work space.
  for (let i = 1; i < changed.length; i++) {
    const key = changed[i]!;
    let j = i - 1;
    for (; j >= 0 && changed[j]! > key; j--) changed[j + 1] = changed[j]!;
    changed[j + 1] = key;
  }
  for (const key of changed) {
    const before = fieldOf(loaded, key);
    const after = fieldOf(saved, key);
    const at = [...path, key];
    if (after === undefined) {
      ops.push({ op: 'unset', path: at });
      continue;
    }
    if (before === undefined) {
      // A counter the request found absent counts from 0, as the primary's incr does: two
      // requests that each start it at 1 make 2.
      if (typeof after === 'number' && counters.size > 0 && counters.has(at.join('.'))) {
        ops.push({ op: 'incr', path: at, by: after, value: after });
      } else {
        ops.push({ op: 'set', path: at, value: after });
      }
      continue;
    }
    if (typeof before === 'number' && typeof after === 'number') {
      if (counters.size > 0 && counters.has(at.join('.'))) {
        ops.push({ op: 'incr', path: at, by: after - before, value: after });
      } else {
        ops.push({ op: 'set', path: at, value: after });
      }
    } else if (
      isPlainObject(before) &&
      isPlainObject(after) &&
      at.length < patchPathDepthMax &&
      !atomic.has(at.join('.'))
    ) {
      diffInto(ops, at, before, after, counters, atomic);
    } else if (Array.isArray(before) && Array.isArray(after)) {
      const change = setChange(before, after);
      if (change === null) {
        ops.push({ op: 'set', path: at, value: after });
      } else {
        if (change.removed.length > 0)
          ops.push({ op: 'remove', path: at, values: change.removed, value: after });
        if (change.added.length > 0)
          ops.push({ op: 'add', path: at, values: change.added, value: after });
      }
    } else {
      ops.push({ op: 'set', path: at, value: after });
    }
  }
}

/**
 * What identifies an array element for setChange: the element itself when both arrays hold
 * only primitives (a Set tells 1 from '1' and null from 'null', as canonical() does), its
 * canonical text otherwise.
 */
function elementKeys(
  before: readonly unknown[],
  after: readonly unknown[],
): { beforeKeys: readonly unknown[]; afterKeys: readonly unknown[] } {
  const primitive = (v: unknown): boolean => typeof v !== 'object' || v === null;
  if (before.every(primitive) && after.every(primitive)) {
    return { beforeKeys: before.map(leafOf), afterKeys: after.map(leafOf) };
  }
  return { beforeKeys: before.map((v) => canonical(v)), afterKeys: after.map((v) => canonical(v)) };
}

/**
 * When both arrays hold distinct elements and `after` is `before` minus some elements, in
 * their order, followed by new elements: what was removed and what was appended. Otherwise
 * null: the change is not one a set's add and remove can express.
 */
function setChange(
  before: readonly unknown[],
  after: readonly unknown[],
): { removed: unknown[]; added: unknown[] } | null {
  const { beforeKeys, afterKeys } = elementKeys(before, after);
  const beforeSet = new Set(beforeKeys);
  const afterSet = new Set(afterKeys);
  if (beforeSet.size !== before.length || afterSet.size !== after.length) return null;
  const removed: unknown[] = [];
  let kept = 0;
  for (let i = 0; i < before.length; i++) {
    if (afterSet.has(beforeKeys[i])) {
      // The kept elements must come first in `after`, in their old order.
      if (afterKeys[kept] !== beforeKeys[i]) return null;
      kept++;
    } else {
      removed.push(before[i]);
    }
  }
  const added: unknown[] = [];
  for (let i = kept; i < after.length; i++) {
    if (beforeSet.has(afterKeys[i])) return null;
    added.push(after[i]);
  }
  return { removed, added };
}

function isPathSegment(segment: string): boolean {
  return segment !== '' && !segment.includes('.') && !forbiddenSegments.has(segment);
}

/**
 * Whether a value holds a `__proto__` key at any depth. A patch carries its operands inside
 * the request frame, whose decoding renames that key (core/value-codec.ts says why), and a
 * node refuses an operand that has it; a whole value sent by `set` keeps it.
 */
function holdsProtoKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(holdsProtoKey);
  if (!isPlainObject(value)) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (key === '__proto__' || holdsProtoKey(value[key])) return true;
  }
  return false;
}

/** The operations as one patch request, or null when a patch cannot express them. */
export function toPatchOps(ops: readonly FieldOp[]): PatchOp[] | null {
  if (ops.length > patchOpsMax) return null;
  const patch: PatchOp[] = [];
  for (const op of ops) {
    if (!op.path.every(isPathSegment)) return null;
    if (op.op === 'set' && holdsProtoKey(op.value)) return null;
    if ((op.op === 'add' || op.op === 'remove') && op.values.some(holdsProtoKey)) return null;
    const path = op.path.join('.');
    switch (op.op) {
      case 'set':
        patch.push({ op: 'set', path, value: op.value });
        break;
      case 'unset':
        patch.push({ op: 'unset', path });
        break;
      case 'incr':
        patch.push({ op: 'incr', path, by: op.by });
        break;
      case 'add':
      case 'remove':
        patch.push({ op: op.op, path, values: op.values });
        break;
    }
  }
  return patch;
}

function setField(object: Doc, field: string, value: unknown): void {
  // defineProperty, not assignment: a field named __proto__ stays a field, not a prototype.
  Object.defineProperty(object, field, {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

/**
 * Applies the operations to `doc` in place, as the primary would, except that a field whose
 * type no longer fits the operation (another request changed it) takes this request's value.
 * Never fails. Used by the read-modify-write fallback, and by tests as the obvious model of a
 * patch.
 */
export function applyLocally(doc: Doc, ops: readonly FieldOp[]): Doc {
  for (const op of ops) {
    const object = parentOf(doc, op.path, op.op !== 'unset');
    if (object === null) continue;
    const field = op.path[op.path.length - 1]!;
    const current = Object.hasOwn(object, field) ? object[field] : undefined;
    switch (op.op) {
      case 'set':
        setField(object, field, structuredClone(op.value));
        break;
      case 'unset':
        if (Object.hasOwn(object, field)) delete object[field];
        break;
      case 'incr':
        setField(object, field, typeof current === 'number' ? current + op.by : op.value);
        break;
      case 'add': {
        if (!Array.isArray(current)) {
          setField(object, field, structuredClone(op.value));
          break;
        }
        const present = new Set(current.map((v) => canonical(v)));
        for (const value of op.values) {
          const key = canonical(value);
          if (!present.has(key)) {
            present.add(key);
            current.push(structuredClone(value));
          }
        }
        break;
      }
      case 'remove': {
        if (current === undefined) break;
        if (!Array.isArray(current)) {
          setField(object, field, structuredClone(op.value));
          break;
        }
        const gone = new Set(op.values.map((v) => canonical(v)));
        setField(
          object,
          field,
          current.filter((v) => !gone.has(canonical(v))),
        );
        break;
      }
    }
  }
  return doc;
}

/**
 * The object that holds the path's last field. A missing object on the way (or a value that
 * is not an object, which another request put there) is created when `create`; otherwise the
 * field is absent and the answer is null.
 */
function parentOf(doc: Doc, path: readonly string[], create: boolean): Doc | null {
  let object = doc;
  for (let i = 0; i < path.length - 1; i++) {
    const segment = path[i]!;
    const next = Object.hasOwn(object, segment) ? object[segment] : undefined;
    if (isPlainObject(next)) {
      object = next;
    } else {
      if (!create) return null;
      const created: Doc = {};
      setField(object, segment, created);
      object = created;
    }
  }
  return object;
}
