/**
 * V8 settings for a process that exists to run a node (`statehouse node`), applied by the
 * CLI before the node starts. Not applied by `startNode()`: in embedded mode the process is
 * the application's, and its V8 settings are the application's to choose.
 *
 * A node's periodic work (Raft ticks, lease pings, the data plane's walk of its partitions,
 * the expiry sweep) runs 10 to 20 times a second. V8 optimizes a function once it has run
 * enough bytecode (its interrupt budget, 67,584 by default in Node 20); at that rate the
 * periodic paths stayed in the interpreter and baseline code for minutes, and perf showed an
 * idle node's JavaScript there. What a smaller budget did to idle and loaded nodes, measured
 * side by side: docs/design-notes.md, *Idle cost*.
 */
import { setFlagsFromString } from 'node:v8';

const nodeInterruptBudget = 8_000;

/**
 * Takes effect for every function whose feedback V8 allocates afterwards, which is nearly
 * all of a node's: they are first called once the node starts.
 */
export function tuneV8ForNodeProcess(): void {
  setFlagsFromString(`--interrupt-budget=${nodeInterruptBudget}`);
}
