/**
 * `localAddress` (`--local-address`): a node dials its peers from the address it is given, so
 * that a proxy or firewall in front of another node can tell which node is calling. The chaos
 * run's partitions rest on it (test/chaos/fault-proxy.ts).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/node/index.js';
import { StatehouseError } from '../../src/core/errors.js';
import { FaultNet, FaultProxy } from '../chaos/fault-proxy.js';
import { eventually, fastTiming } from '../helpers/cluster.js';

test('a node with a local address dials its join and its peer links from that address', async (t) => {
  const net = new FaultNet();
  net.register('127.0.0.72', 'n2');
  // The founder advertises its proxy's address; the proxy learns the founder's port after.
  const proxy = await FaultProxy.start({
    net,
    node: 'n1',
    host: '127.0.0.71',
    target: { host: '127.0.0.71', port: 9 },
  });
  t.after(() => proxy.close());
  const founder = await startNode({
    host: '127.0.0.71',
    port: 0,
    id: 'n1',
    advertise: proxy.address,
    ...fastTiming,
  });
  t.after(() => founder.close());
  proxy.retarget({ host: '127.0.0.71', port: founder.port });
  const joiner = await startNode({
    host: '127.0.0.72',
    port: 0,
    id: 'n2',
    localAddress: '127.0.0.72',
    seeds: [proxy.address],
    ...fastTiming,
  });
  t.after(() => joiner.close());
  await eventually('both members active', () =>
    founder
      .status()
      .members.every((m) => m.state === 'active' && founder.status().members.length === 2),
  );
  // The join request and at least one peer link came from n2's own address, none from elsewhere.
  assert.ok(
    (net.counters.connectionsFrom.get('n2') ?? 0) >= 2,
    JSON.stringify([...net.counters.connectionsFrom]),
  );
  assert.equal(net.counters.connectionsFrom.get('client'), undefined);
});

test('a local address that is not an IP address is refused at start, naming the option', async () => {
  await assert.rejects(
    startNode({ port: 0, localAddress: 'localhost' }),
    (error: unknown) =>
      error instanceof StatehouseError &&
      error.code === 'BAD_REQUEST' &&
      /localAddress must be an IP address/.test(error.message),
  );
});
