/**
 * What a store remembers of each framework session object between its calls: the base of
 * its next save (what its request loaded or last saved: merge.ts diffs against it) and its
 * queue of writes. Both in one hidden slot (hidden-slot.ts), so that a session costs one
 * `defineProperty` in a request, not one per thing remembered: in a busy web server that
 * call is among the store's larger costs (`npm run bench:store-js`).
 *
 * Why a queue. A request may save its session twice without waiting in between
 * (`req.session.save()` with no callback, then the framework's own save at the end of the
 * request). Each save diffs against what the one before it wrote; run side by side, both
 * would diff against what the request loaded, and the second would send the first one's
 * counter increments again.
 */
import type { Loaded } from './engine.js';
import { HiddenSlot } from './hidden-slot.js';

interface Link {
  base: Loaded | undefined;
  /** Settles when the last write queued so far has; undefined when none is running. */
  tail: Promise<void> | undefined;
}

export class SessionLinks {
  private readonly slot = new HiddenSlot<Link>('statehouse.session');

  /** What this session's request loaded or last saved; undefined for a session the store never gave out. */
  base(session: object): Loaded | undefined {
    return this.slot.get(session)?.base;
  }

  setBase(session: object, base: Loaded): void {
    const link = this.slot.get(session);
    if (link === undefined) this.slot.set(session, { base, tail: undefined });
    else link.base = base;
  }

  /**
   * Runs `write` once every earlier write of `session` has settled; the first one at once,
   * so that it reads the session as it is when the framework asks for the save.
   */
  inTurn<T>(session: object, write: () => Promise<T>): Promise<T> {
    let found = this.slot.get(session);
    if (found === undefined) {
      found = { base: undefined, tail: undefined };
      this.slot.set(session, found);
    }
    const link = found;
    const result = link.tail === undefined ? write() : link.tail.then(write);
    const done = (): void => {
      if (link.tail === settled) link.tail = undefined;
    };
    const settled = result.then(done, done);
    link.tail = settled;
    return result;
  }
}
