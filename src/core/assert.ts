/**
 * Programmer errors crash with context; operating errors and bad input never come here
 * (they are answered with a StatehouseError). An assertion that fires means the code is
 * wrong, so the message says what was expected and what was found.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'string' ? message : message());
  }
}

export function unreachable(value: never, what: string): never {
  throw new AssertionError(`unreachable: unexpected ${what}: ${JSON.stringify(value)}`);
}
