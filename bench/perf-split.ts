/**
 * Where a shop's main thread spends its time, by category, from a `perf` recording of that
 * thread: the tool behind the per-request split in docs/design-notes.md (*The HTTP gap*).
 *
 *   # while `npm run bench:http-controls -- --servers redis,statehouse "--shop-flags=--perf-basic-prof"`
 *   # runs, for each shop process PID (its main thread has the process's id):
 *   perf record -g -t PID -o shop.data
 *   perf script -i shop.data > shop.txt
 *   node --import tsx bench/perf-split.ts shop.txt MAIN_THREAD_US_PER_REQUEST
 *
 * MAIN_THREAD_US_PER_REQUEST is the shop's "main thread µs/req" of that run's table: the split
 * gives each category its share of the samples times that figure. The recording spans the
 * whole run (start-up, warm-up and the other systems' rounds, when the shop is idle), so the
 * shares are of everything the thread did; start-up is a few percent of it.
 *
 * A sample goes to the first category that matches, in this order: a page fault anywhere in
 * its kernel stack; the kernel waking the reader of a socket the thread wrote to; other kernel
 * time; V8's garbage collector on the main thread; JavaScript and V8's built-ins, by the
 * first JavaScript function on the stack outside Node.js's library (callerOf: a built-in or
 * a timer that a store's code called counts as that store's): the Statehouse store and
 * client (this checkout's dist/, msgpackr), connect-redis and node-redis, or anything else;
 * the rest of V8, Node.js's C++ and libc. Prints a markdown table, then the store functions
 * with the most time (what they called included).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const categories = {
  faults: 'page faults (kernel)',
  wakeups: 'waking the reader of a socket written to (kernel)',
  kernel: 'other kernel: system calls, scheduling, interrupts',
  gc: 'garbage collector, on the main thread',
  ours: 'Statehouse store and client JavaScript (with msgpackr, and the built-ins and Node.js library code they call)',
  redis:
    'connect-redis and node-redis JavaScript (with the built-ins and Node.js library code they call, their timeouts among it)',
  js: 'other JavaScript and built-ins (Express, express-session, HTTP, the shop)',
  native: 'other V8 runtime, Node.js C++, libc',
} as const;
export type Category = keyof typeof categories;

/** This checkout's build (dist/, not a package's) and the codec it uses. */
const isOurs = (js: string): boolean =>
  (js.includes('/dist/') && !js.includes('/node_modules/')) || js.includes('/msgpackr/');
const redisCode = ['/@redis/', '/connect-redis/'];
/** A function of Node.js's own library (`setTimeout node:timers:139:20`, `node:internal/...`). */
const isNodeLibrary = (jsFrame: string): boolean => /\snode:[\w/]+:\d+:\d+/.test(jsFrame);
const gcSymbols = [
  'Scaveng',
  'MarkCompact',
  'Sweeper',
  'Heap::',
  'GCTracer',
  'ConcurrentMarking',
  'IncrementalMarking',
  'Evacuat',
];

/** One sample's frames, leaf first, as `perf script` prints them (symbol, then its module). */
function* samples(text: string): Generator<string[]> {
  let frames: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (frames.length > 0) yield frames;
      frames = [];
    } else if (line.startsWith('\t') || line.startsWith(' ')) {
      // "\t    7f1c2a3b4c5d symbol+0x12 (module)"
      const rest = line.trim().replace(/^[0-9a-f]+ /, '');
      frames.push(rest);
    }
  }
  if (frames.length > 0) yield frames;
}

const isKernel = (frame: string): boolean => frame.endsWith('([kernel.kallsyms])');
const isJs = (frame: string): boolean => frame.startsWith('JS:');
const isBuiltin = (frame: string): boolean => frame.startsWith('Builtins_');
const functionOf = (frame: string): string =>
  frame.replace(/ \([^)]*\)$/, '').replace(/\+0x[0-9a-f]+$/, '');

/**
 * The JavaScript function a sample is charged to: the first on the stack outside Node.js's
 * library, so that a built-in, a timer or a socket write counts for the code that asked for
 * it (node-redis's per-command AbortSignal.timeout for node-redis, our client's setImmediate
 * for the client); the library function itself when nothing of the application called it in
 * this entry into JavaScript (the event loop running timers, the HTTP parser's callbacks).
 */
function callerOf(frames: readonly string[]): string | undefined {
  let firstJs: string | undefined;
  for (const frame of frames) {
    if (frame.startsWith('Builtins_JSEntry')) break;
    if (!isJs(frame)) continue;
    firstJs ??= frame;
    if (!isNodeLibrary(frame)) return frame;
  }
  return firstJs;
}

function categorize(frames: readonly string[]): { category: Category; js: string | null } {
  const near = frames.slice(0, 12);
  if (near.some((f) => f.includes('asm_exc_page_fault'))) return { category: 'faults', js: null };
  if (near.some((f) => f.includes('sock_def_readable'))) return { category: 'wakeups', js: null };
  const leaf = frames[0]!;
  if (isKernel(leaf)) return { category: 'kernel', js: null };
  if (gcSymbols.some((s) => leaf.includes(s))) return { category: 'gc', js: null };
  if (isJs(leaf) || isBuiltin(leaf)) {
    const js = callerOf(frames) ?? leaf;
    if (redisCode.some((c) => js.includes(c))) return { category: 'redis', js };
    if (isOurs(js)) return { category: 'ours', js };
    return { category: 'js', js };
  }
  return { category: 'native', js: null };
}

/** `attempt dist/client/client.js:465:18`, `get connect-redis/dist/connect-redis.js:25:12`. */
function shortName(jsFrame: string): string {
  const name = jsFrame.replace(/^JS:[*^~]?/, '').replace(/^ /, '(anonymous) ');
  return name.includes('/node_modules/')
    ? name.replace(/(file:\/\/)?\/\S*?\/node_modules\//, '')
    : name.replace(/(file:\/\/)?\/\S*\/dist\//, 'dist/');
}

export interface Split {
  readonly total: number;
  readonly counts: ReadonlyMap<Category, number>;
  /** Samples per store function (ours and connect-redis's), built-ins they called included. */
  readonly storeFunctions: ReadonlyMap<string, number>;
}

/** Sorts the samples of `perf script`'s output. */
export function splitPerfScript(text: string): Split {
  const counts = new Map<Category, number>();
  const storeFunctions = new Map<string, number>();
  let total = 0;
  for (const frames of samples(text)) {
    total++;
    const { category, js } = categorize(frames);
    counts.set(category, (counts.get(category) ?? 0) + 1);
    if ((category === 'ours' || category === 'redis') && js !== null) {
      const name = shortName(functionOf(js));
      storeFunctions.set(name, (storeFunctions.get(name) ?? 0) + 1);
    }
  }
  return { total, counts, storeFunctions };
}

function main(): void {
  const [file, perRequestText] = process.argv.slice(2);
  const perRequest = Number(perRequestText);
  if (file === undefined || !Number.isFinite(perRequest) || perRequest <= 0) {
    throw new Error('usage: perf-split.ts PERF_SCRIPT_OUTPUT MAIN_THREAD_US_PER_REQUEST');
  }
  const { total, counts, storeFunctions } = splitPerfScript(readFileSync(file, 'utf8'));
  const us = (n: number): string => ((n / total) * perRequest).toFixed(1);
  console.log(`${total} samples; main thread ${perRequest} µs per request\n`);
  console.log('| category | µs per request | share |');
  console.log('| --- | ---: | ---: |');
  for (const category of Object.keys(categories) as Category[]) {
    const n = counts.get(category) ?? 0;
    console.log(`| ${categories[category]} | ${us(n)} | ${((100 * n) / total).toFixed(1)}% |`);
  }
  console.log('\n| store function | µs per request |');
  console.log('| --- | ---: |');
  for (const [name, n] of [...storeFunctions].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`| ${name} | ${us(n)} |`);
  }
}

// Run only as a command, not when a test imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
