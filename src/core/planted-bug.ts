/**
 * Planted bugs: deliberate breaks of the rules that keep acknowledged sync writes, reads and
 * expiry safe (DESIGN.md section 4), for the data-plane simulator to prove that it and its
 * linearizability checker can see them (STYLE.md: "a checker is trusted only after it has
 * caught a planted bug").
 *
 * Only code constructs these options: no CLI flag, node option, or message field carries one,
 * so a running node cannot be talked into a planted bug. The simulator passes one to the
 * DataPlane and ControlPlane it builds; every other caller leaves it undefined.
 *
 * - `ackBeforeBackups`: a primary answers a sync write without waiting for the in-sync set.
 * - `readWithoutLease`: a primary answers reads whether or not it holds its lease.
 * - `promoteOutOfSync`: the control-plane leader, finding a partition whose primary is dead,
 *   counts its live backups as caught up, so that one outside the in-sync set is promoted.
 * - `backupDropsExpiry`: a backup keeps the entries the primary streams to it without their
 *   expiry time, so once promoted it serves them past their TTL (expiry must be decided by
 *   the primary and travel with the data).
 */
export const plantedBugs = [
  'ackBeforeBackups',
  'readWithoutLease',
  'promoteOutOfSync',
  'backupDropsExpiry',
] as const;
export type PlantedBug = (typeof plantedBugs)[number];
