/**
 * Which nodes hold a copy of a partition, found from outside: the status shows only counts
 * per node, not the partition table.
 */
import { parseAddress } from '../../src/core/address.js';
import { RawConnection } from './raw-connection.js';

/**
 * For each key, the names of the `nodes` that hold a copy of its partition: the nodes that
 * answer a read allowing any replica (`readFrom: 'any'`) instead of NOT_PRIMARY. The primary
 * and every backup answer it (a backup from its own copy, in sync or not).
 */
export async function holdersOf(
  nodes: readonly { name?: string; id?: string; address: string }[],
  keys: readonly string[],
): Promise<string[][]> {
  const result = keys.map((): string[] => []);
  for (const node of nodes) {
    const name = node.name ?? node.id ?? node.address;
    const raw = await RawConnection.ready(parseAddress(node.address).port, 'holders');
    try {
      keys.forEach((key, i) =>
        raw.request({ kind: 'command', id: i + 1, command: { op: 'get', key }, readFrom: 'any' }),
      );
      for (let i = 0; i < keys.length; i++) {
        const reply = await raw.reply(i + 1, 10_000);
        if (reply.ok) result[i]!.push(name);
        else if (reply.error.code !== 'NOT_PRIMARY')
          throw new Error(`${name} answered ${reply.error.code} for ${keys[i]}`);
      }
    } finally {
      raw.close();
    }
  }
  return result;
}
