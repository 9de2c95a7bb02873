/**
 * Session frameworks call stores with Node-style callbacks; connect-redis and friends also
 * return promises. Both work here: with a callback, the promise resolves to undefined and the
 * outcome goes to the callback only, so nobody is left with an unhandled rejection; without
 * one, the promise carries the outcome.
 */
export type Callback<T> = (error: unknown, value?: T) => void;

export function settle<T>(
  work: Promise<T>,
  callback: Callback<T> | undefined,
): Promise<T | undefined> {
  if (typeof callback !== 'function') return work;
  return work.then(
    // Called outside the promise chain: an exception thrown by the callback is the
    // application's, and must surface as it would from any callback API, not as a rejection.
    (value) => void process.nextTick(callback, null, value),
    (error: unknown) => void process.nextTick(callback, error),
  );
}
