/**
 * Runs the writes of one framework session object one after another. A request may save its
 * session twice without waiting in between (`req.session.save()` with no callback, then the
 * framework's own save at the end of the request). Each save diffs against what the one
 * before it wrote; run side by side, both would diff against what the request loaded, and
 * the second would send the first one's counter increments again.
 */
import { HiddenSlot } from './hidden-slot.js';

export class SaveQueue {
  private readonly tails = new HiddenSlot<Promise<void>>('statehouse.saveTail');

  /**
   * Runs `task` once every earlier task for `session` has settled; the first one at once, so
   * that it reads the session as it is when the framework asks for the save.
   */
  run<T>(session: object, task: () => Promise<T>): Promise<T> {
    const tail = this.tails.get(session);
    const result = tail === undefined ? task() : tail.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(session, settled);
    void settled.then(() => {
      if (this.tails.get(session) === settled) this.tails.clear(session);
    });
    return result;
  }
}
