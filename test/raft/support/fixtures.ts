/** Hand-made logs for scenario tests: a log is written as the term of each entry. */
import type { Entry, NodeId } from '../../../src/raft/index.js';
import type { Data, Stored } from './cluster.js';

/** Entries 1..n with the given terms; each carries its own "index/term" as data. */
export function logOf(terms: readonly number[]): Entry<Data>[] {
  return terms.map((term, i) => ({ index: i + 1, term, kind: 'normal', data: `${i + 1}/${term}` }));
}

/** Storage holding `terms` as the log, at the last entry's term unless told otherwise. */
export function storedLog(
  terms: readonly number[],
  options: { term?: number; vote?: NodeId | null; commit?: number } = {},
): Stored {
  return {
    hardState: {
      term: options.term ?? terms[terms.length - 1] ?? 0,
      vote: options.vote ?? null,
      commit: options.commit ?? 0,
    },
    snapshot: null,
    entries: logOf(terms),
  };
}

/** The terms of a node's log from `from` to its last index. */
export function termsOf(
  raft: { termAt(i: number): number | undefined; status(): { lastIndex: number } },
  from = 1,
): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  for (let i = from; i <= raft.status().lastIndex; i++) out.push(raft.termAt(i));
  return out;
}
