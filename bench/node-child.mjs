// @ts-check
// The child side of bench/node-process.ts: one Statehouse node, as `statehouse node` runs it.
//
// Plain JavaScript run by plain node, not TypeScript through tsx: a deployed node has no
// loader in it. What the loader cost, two idle nodes side by side, one with it: 17-18 against
// 12-13 ms of CPU a second over the first 10 s after start (when the bench's sections start
// their load), the same (7-21 ms either way, no order) over the next 50 s. The protocol
// (FromChild, ToChild) and the options are described and typed in node-process.ts, whose
// types the annotations here name: `npm run typecheck:bench-child` (part of `npm test`, after
// the build, since this file imports dist/) checks the two ends against each other.
import { startNode } from '../dist/node/index.js';
import { tuneV8ForNodeProcess } from '../dist/node/v8-tuning.js';

/** @param {import('./node-process.js').FromChild} message */
function send(message) {
  process.send?.(message);
}

function fullGc() {
  // Twice: the first collection may leave objects with finalizers for the second.
  const gc = /** @type {{ gc?: () => void }} */ (globalThis).gc;
  gc?.();
  gc?.();
}

/** @type {import('./node-process.js').NodeProcessOptions} */
const options = JSON.parse(process.argv[2] ?? '{}');
// The V8 setting `statehouse node` applies.
tuneV8ForNodeProcess();
const node = await startNode({
  port: 0,
  logger: 'silent',
  ...(options.id !== undefined && { id: options.id }),
  ...(options.seeds !== undefined && { seeds: options.seeds }),
  ...(options.replicationFactor !== undefined && { replicationFactor: options.replicationFactor }),
});
process.on('disconnect', () => process.exit(0));
process.on('message', (/** @type {import('./node-process.js').ToChild} */ message) => {
  if (message.type === 'sample') {
    if (message.gc) fullGc();
    const stats = node.stats();
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    send({
      type: 'sample',
      sample: {
        entries: stats.entries,
        primaryEntries: stats.primaryEntries,
        storeBytes: stats.bytes,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        external: memory.external,
        cpuMicros: cpu.user + cpu.system,
      },
    });
  } else if (message.type === 'stop') {
    void node.close().then(() => process.exit(0));
  }
});
send({ type: 'ready', address: node.address });
