/**
 * Routing: which node to send a key's request to, from the client's cached copy of the
 * partition table. Pure: the table comes in, an address goes out.
 */
import { partitionOf } from '../core/keys.js';
import type { TableResult } from '../protocol/index.js';

export class Router {
  private table: TableResult | null = null;

  get epoch(): number {
    return this.table?.epoch ?? 0;
  }

  get partitionCount(): number {
    return this.table?.partitionCount ?? 0;
  }

  /** Installs a table unless it is older than the one held. */
  update(table: TableResult): void {
    const held = this.table;
    // After a full-cluster restart (in memory: a new, empty cluster) versions start from 1
    // again: another cluster's table replaces the held one whatever its version.
    const anotherCluster =
      held !== null && table.clusterId !== undefined && table.clusterId !== held.clusterId;
    if (held === null || table.epoch >= held.epoch || anotherCluster) this.table = table;
  }

  /** The primary's address for `key`, or null when the table has none for its partition. */
  route(key: string): string | null {
    const table = this.table;
    if (table === null) return null;
    const index = table.primaries[partitionOf(key, table.partitionCount)];
    if (index === undefined || index < 0) return null;
    return table.nodes[index]?.address ?? null;
  }

  addresses(): string[] {
    return this.table?.nodes.map((n) => n.address) ?? [];
  }
}

/** Checks that a decoded table has the shape the router relies on. */
export function isTable(value: unknown): value is TableResult {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Record<string, unknown>;
  return (
    typeof t['epoch'] === 'number' &&
    typeof t['partitionCount'] === 'number' &&
    Array.isArray(t['nodes']) &&
    t['nodes'].every(
      (n: unknown) =>
        typeof n === 'object' &&
        n !== null &&
        typeof (n as Record<string, unknown>)['address'] === 'string',
    ) &&
    Array.isArray(t['primaries']) &&
    t['primaries'].length === t['partitionCount'] &&
    (t['clusterId'] === undefined || typeof t['clusterId'] === 'string')
  );
}
