/**
 * Prints how many copies placement moves on one join and on one failure, next to the least
 * any placement could move and to what `hash % N` placement would move on the same change.
 * Every figure is computed here; run with `node --import tsx scripts/placement-table.ts`.
 *
 * - moved: copies created by `converge` (addBackup changes), starting from a balanced table.
 * - join minimum: the new node's share, P*R/(N+1); no placement that balances can move less.
 * - failure minimum: the copies the dead node held that the survivors can take back (each
 *   partition needs min(RF, N-1) copies; it still has the ones not on the dead node).
 * - hash % N: copy i of partition p on node (h(p) + i) % N, h(p) the partition's hash; the
 *   figure is the copies whose node is new after N changes (copies to create).
 */
import { hashUtf8 } from '../src/core/keys.js';
import { converge, initialTable, type Member, type PartitionTable } from '../src/control/index.js';

const partitionCount = 256;

function nodeId(i: number): string {
  return `n${String(i).padStart(2, '0')}`;
}

function cluster(n: number): Member[] {
  return Array.from({ length: n }, (_, i) => ({ id: nodeId(i), state: 'active' as const }));
}

function replicas(table: PartitionTable, p: number): string[] {
  const a = table[p];
  if (a === undefined) return [];
  return a.primary === null ? [...a.backups] : [a.primary, ...a.backups];
}

/** Nodes holding partition p under `hash % nodes` placement. */
function hashPlacement(p: number, nodes: number, rf: number): Set<number> {
  const h = hashUtf8(`partition:${p}`);
  const copies = new Set<number>();
  for (let i = 0; i < Math.min(rf, nodes); i++) copies.add((h + i) % nodes);
  return copies;
}

/** Copies to create when hash placement goes from `before` nodes to `after` nodes. */
function hashMoves(before: number, after: number, rf: number): number {
  let moved = 0;
  for (let p = 0; p < partitionCount; p++) {
    const old = hashPlacement(p, before, rf);
    for (const n of hashPlacement(p, after, rf)) if (!old.has(n)) moved++;
  }
  return moved;
}

interface Row {
  n: number;
  rf: number;
  joinMoved: number;
  joinMinimum: number;
  joinHash: number;
  failMoved: number;
  failMinimum: number;
  failHash: number;
  /** Copies the failing node held under hash placement (hash % N does not balance). */
  failHashHeld: number;
}

function measure(n: number, rf: number): Row {
  const members = cluster(n);
  const options = { replicationFactor: rf };
  const table = converge(initialTable(members, partitionCount, rf), members, options).table;

  const joined: Member[] = [...members, { id: nodeId(n), state: 'joining' }];
  const join = converge(table, joined, options);
  const joinMinimum = (partitionCount * Math.min(rf, n + 1)) / (n + 1);

  // The last node fails, so hash placement over the survivors is simply `% (N-1)`.
  const victim = nodeId(n - 1);
  const failed = members.map((m) => (m.id === victim ? { ...m, state: 'dead' as const } : m));
  const fail = converge(table, failed, options);
  const keep = Math.min(rf, n - 1);
  let failMinimum = 0;
  for (let p = 0; p < partitionCount; p++) {
    const surviving = replicas(table, p).filter((id) => id !== victim).length;
    failMinimum += Math.max(0, keep - surviving);
  }

  return {
    n,
    rf,
    joinMoved: join.copiesMoved,
    joinMinimum,
    joinHash: hashMoves(n, n + 1, rf),
    failMoved: fail.copiesMoved,
    failMinimum,
    failHash: hashMoves(n, n - 1, rf),
    failHashHeld: Array.from({ length: partitionCount }, (_, p) => p).filter((p) =>
      hashPlacement(p, n, rf).has(n - 1),
    ).length,
  };
}

function pct(moved: number, n: number, rf: number): string {
  return `${Math.round((100 * moved) / (partitionCount * Math.min(rf, n)))}%`;
}

const rows: Row[] = [];
for (const n of [3, 5, 10]) for (const rf of [2, 3]) rows.push(measure(n, rf));

console.log(`Copies moved, P = ${partitionCount} (percent of all copies before the change)\n`);
console.log(
  '| N | RF | join: moved | join: minimum P·RF/(N+1) | join: hash % N | failure: moved | failure: minimum (lost copies) | failure: hash % N |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const cells = [
    r.n,
    r.rf,
    `${r.joinMoved} (${pct(r.joinMoved, r.n, r.rf)})`,
    r.joinMinimum.toFixed(1),
    `${r.joinHash} (${pct(r.joinHash, r.n, r.rf)})`,
    `${r.failMoved} (${pct(r.failMoved, r.n, r.rf)})`,
    r.failMinimum,
    `${r.failHash} (${pct(r.failHash, r.n, r.rf)})`,
  ];
  console.log(`| ${cells.join(' | ')} |`);
}

for (const r of rows) {
  if (r.failHash >= r.failMinimum) continue;
  console.log(
    `\nN = ${r.n}, RF = ${r.rf}: hash % N moves fewer on the failure only because it is unbalanced: ` +
      `the failing node held ${r.failHashHeld} copies under it and ${r.failMinimum} under placement, ` +
      `and every partition that lost a copy must be re-created either way.`,
  );
}
