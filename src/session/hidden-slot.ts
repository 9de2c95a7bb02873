/**
 * A value attached to a framework's object (a session, the data a `get` returned) without
 * changing what the object shows: a non-enumerable property under a symbol of this slot's
 * own, which JSON, `for ... in`, `Object.keys`, spread, `structuredClone` and the frameworks'
 * change hashes all skip. An object that cannot take a property (frozen, sealed) gets the
 * value in a WeakMap instead.
 *
 * Why not a WeakMap for all: a store links a few objects per request, and in a busy web
 * server every WeakMap entry on a young object costs the garbage collector (V8 processes
 * ephemeron tables in every scavenge). A CPU profile of the demo shop under load put the
 * store's WeakMaps at about 1% of the web server's main thread (docs/design-notes.md).
 */
export class HiddenSlot<T> {
  private readonly key: symbol;
  private readonly fallback = new WeakMap<object, T>();

  constructor(description: string) {
    this.key = Symbol(description);
  }

  get(target: object): T | undefined {
    if (Object.hasOwn(target, this.key)) {
      return (target as Record<symbol, T | undefined>)[this.key];
    }
    return this.fallback.get(target);
  }

  set(target: object, value: T): void {
    if (Object.hasOwn(target, this.key)) {
      (target as Record<symbol, T>)[this.key] = value;
    } else if (Object.isExtensible(target)) {
      Object.defineProperty(target, this.key, {
        value,
        writable: true,
        configurable: true,
        enumerable: false,
      });
    } else {
      this.fallback.set(target, value);
    }
  }

  /**
   * `set` for an object the caller made itself and has not handed out yet: a plain
   * assignment, a fraction of defineProperty's cost. The property is then enumerable, so
   * spread and Object.assign copy it (JSON, for...in, Object.keys and structuredClone still
   * skip a symbol key): only for objects whose copies never come back to the store.
   */
  setOnOwn(target: object, value: T): void {
    (target as Record<symbol, T>)[this.key] = value;
  }
}
