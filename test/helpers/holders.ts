/**
 * Which nodes hold a copy of a partition, found from outside: the status shows only counts
 * per node, not the partition table.
 */
import { parseAddress } from '../../src/core/address.js';
import { RawConnection } from './raw-connection.js';

/**
 * For each key, the names of the `nodes` that hold a copy of its partition: the nodes that
 * answer a read allowing any replica (`readFrom: 'any'`) instead of NOT_PRIMARY. The primary
 * and every backup in the in-sync set whose position the primary confirmed (at once in a
 * settled cluster) answer it; a copy still being built, or awaiting a transfer, does not.
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
      // A primary whose lease is settling after a hand-off answers UNAVAILABLE for a moment:
      // ask again until every key has a definite answer.
      let pending = keys.map((_, i) => i);
      let id = 0;
      const deadline = Date.now() + 10_000;
      while (pending.length > 0) {
        const asked = pending.map((i) => {
          raw.request({
            kind: 'command',
            id: ++id,
            command: { op: 'get', key: keys[i]! },
            readFrom: 'any',
          });
          return { i, id };
        });
        pending = [];
        for (const { i, id: requestId } of asked) {
          const reply = await raw.reply(requestId, 10_000);
          if (reply.ok) result[i]!.push(name);
          else if (reply.error.code === 'UNAVAILABLE' && Date.now() < deadline) pending.push(i);
          else if (reply.error.code !== 'NOT_PRIMARY')
            throw new Error(
              `${name} answered ${reply.error.code} for ${keys[i]}: ${reply.error.message}`,
            );
        }
        if (pending.length > 0) await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      raw.close();
    }
  }
  return result;
}
