/**
 * Forwarding (CommandRequest.forward) and writes in doubt. A sync write waiting on a primary
 * fails NOT_PRIMARY with `inDoubt` at a hand-over (a drain, a rebalance): it was applied
 * there and may survive on the new primary. The seed that ran it used to forward that
 * NOT_PRIMARY to the new primary like any other, and the doubt went no further than the
 * seed: if every answer after it was UNAVAILABLE (the hand-off settling) or NOT_PRIMARY until
 * the client's deadline, the client reported TIMEOUT with `inDoubt: false`, "not applied",
 * for a write that may well have been. An answer in doubt now goes back to the client, which
 * keeps the flag and retries through a seed with the same idempotency id.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { forwardTarget } from '../../src/node/plane-glue.js';
import type { Outcome } from '../../src/store/index.js';

function notPrimary(inDoubt: boolean): Outcome {
  return {
    ok: false,
    code: 'NOT_PRIMARY',
    message: 'partition 0 moved to epoch 2 before the write was acknowledged',
    meta: { partition: 0, epoch: 2, ...(inDoubt && { inDoubt: true }) },
  };
}

test('a NOT_PRIMARY for a command the node did not run is forwarded to the primary', () => {
  assert.equal(forwardTarget(notPrimary(false), 'B', 'A'), 'B');
});

test('a NOT_PRIMARY in doubt goes back to the client instead of being forwarded', () => {
  assert.equal(forwardTarget(notPrimary(true), 'B', 'A'), null);
});
