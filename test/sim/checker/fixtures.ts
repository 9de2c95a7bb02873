/**
 * Shorthand for hand-written histories: one call per operation, on key 'k' unless told.
 * Leaving out `ret` makes the outcome unknown (info), as a timed-out client would record it.
 */
import type { Operation, OperationName } from './history.js';

function op(
  f: OperationName,
  process: number,
  input: unknown,
  output: unknown,
  call: number,
  ret: number | undefined,
  key: string,
): Operation {
  return {
    process,
    f,
    key,
    input,
    output: ret === undefined ? null : output,
    call,
    ret: ret ?? Infinity,
    status: ret === undefined ? 'info' : 'ok',
  };
}

export const write = (p: number, value: unknown, call: number, ret?: number, key = 'k') =>
  op('write', p, value, null, call, ret, key);
export const read = (p: number, seen: unknown, call: number, ret?: number, key = 'k') =>
  op('read', p, null, seen, call, ret, key);
export const cas = (p: number, from: unknown, to: unknown, call: number, ret?: number, key = 'k') =>
  op('cas', p, [from, to], null, call, ret, key);
export const del = (p: number, call: number, ret?: number, key = 'k') =>
  op('delete', p, null, null, call, ret, key);
export const incr = (p: number, amount: number, call: number, ret?: number, key = 'k') =>
  op('incr', p, amount, null, call, ret, key);
export const add = (p: number, element: unknown, call: number, ret?: number, key = 'k') =>
  op('add', p, element, null, call, ret, key);
