/**
 * The store: one partition's entries, executed on a primary and applied on its backups.
 * See partition-store.ts for the design; this file is the folder's whole public surface.
 */
export { PartitionStore } from './partition-store.js';
export type { PartitionStoreOptions } from './partition-store.js';
export { MemoryBudget, entryOverheadBytes } from './memory.js';
export type { RememberedClient } from './idempotency.js';
export type {
  Command,
  CommandOp,
  EntryView,
  Execution,
  ExpiresAt,
  Failure,
  IdempotencyId,
  Mutation,
  Outcome,
  PatchOp,
  Result,
  SnapshotClient,
  SnapshotEntry,
  StoreSnapshot,
} from './types.js';
export { ValueArena, copyOut } from './value-arena.js';
