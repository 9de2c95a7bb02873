/**
 * Warnings anyone can cause at will (a wrong token, a broken stream) or a broken peer can
 * cause by the thousand are logged a few times per window, then counted, not written.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { limitedWarn } from '../../src/node/logger.js';
import { startNode } from '../../src/node/index.js';
import { RawConnection } from '../helpers/raw-connection.js';
import { protocolVersion } from '../../src/protocol/index.js';

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

test('a message is logged at most ten times a window, and the next window says how many were dropped', async () => {
  const { logger, lines } = capturingLogger();
  let now = 0;
  const warn = limitedWarn(logger, () => now, 10, 10_000);
  for (let i = 0; i < 25; i++) warn({ i }, 'rejected hello');
  warn({}, 'another message');
  now = 10_000;
  warn({ i: 25 }, 'rejected hello');
  await new Promise((resolve) => setImmediate(resolve));
  const rejected = lines.filter((line) => line['msg'] === 'rejected hello');
  assert.deepEqual(
    rejected.map((line) => line['i']),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 25],
  );
  assert.equal(rejected.at(-1)?.['suppressed'], 15);
  assert.equal(lines.filter((line) => line['msg'] === 'another message').length, 1);
});

test('forty connections with a wrong token leave ten warnings in the log, not forty', async (t) => {
  const { logger, lines } = capturingLogger();
  const node = await startNode({ port: 0, token: 's3cret', logger });
  t.after(() => node.close());
  for (let i = 0; i < 40; i++) {
    const raw = await RawConnection.open(node.port);
    raw.request({
      kind: 'hello',
      id: 0,
      protocol: protocolVersion,
      client: 'guess',
      clientId: `guess-${i}`,
      token: `wrong-${i}`,
    });
    const reply = await raw.reply(0);
    assert.ok(!reply.ok && reply.error.code === 'UNAUTHORIZED');
    raw.close();
  }
  await new Promise((resolve) => setImmediate(resolve));
  const warnings = lines.filter((line) => line['msg'] === 'rejected hello: wrong or missing token');
  assert.equal(warnings.length, 10);
});
