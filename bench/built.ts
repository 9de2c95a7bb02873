/**
 * Statehouse as it ships: the modules of dist/, built by tsc (`npm run bench` builds first).
 * The bench's client and the shop's store load these, not src/ through tsx (its node
 * processes run node-child.mjs, which imports dist/ itself). tsx's transform names every
 * function it creates at run time, a cost that compiled code does not pay; Redis's clients
 * and connect-redis are compiled JavaScript too (what it cost, measured once side by side,
 * is in the message of the commit that made this change).
 *
 * The paths are built at run time so that type-checking does not need dist/; the types are
 * src/'s, which dist/ is compiled from.
 */
type ClientModule = typeof import('../src/client/index.js');
type ExpressStoreModule = typeof import('../src/session/express.js');
type ProtocolModule = typeof import('../src/protocol/index.js');
type ValueCodecModule = typeof import('../src/core/value-codec.js');

async function load<T>(path: string): Promise<T> {
  const url = new URL(`../dist/${path}`, import.meta.url);
  try {
    return (await import(url.href)) as T;
  } catch (error) {
    throw new Error(`bench: dist/${path} could not be loaded; run \`npm run build\` first`, {
      cause: error,
    });
  }
}

export const loadClient = (): Promise<ClientModule> => load('client/index.js');
export const loadExpressStore = (): Promise<ExpressStoreModule> => load('session/express.js');
export const loadProtocol = (): Promise<ProtocolModule> => load('protocol/index.js');
export const loadValueCodec = (): Promise<ValueCodecModule> => load('core/value-codec.js');
