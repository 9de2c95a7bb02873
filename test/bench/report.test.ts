import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpTargetChecks, type HttpSystemId, type HttpSystemResult } from '../../bench/report.js';

function system(id: HttpSystemId, roundRequestsPerSec: number[]): HttpSystemResult {
  const requestsPerSec =
    roundRequestsPerSec.reduce((sum, value) => sum + value, 0) / roundRequestsPerSec.length;
  return {
    id,
    label: id,
    serverProcesses: 1,
    requests: Math.round(requestsPerSec * roundRequestsPerSec.length * 2),
    seconds: roundRequestsPerSec.length * 2,
    requestsPerSec,
    roundRequestsPerSec,
    p50Ms: 20,
    p99Ms: 70,
    maxMs: 90,
    autocannonLatencyMs: { p50: 20, p99: 70 },
    errors: 0,
    timeouts: 0,
    non2xx: 0,
    shopCpuUsPerRequest: 400,
    serverCpuUsPerRequest: 10,
    loadGeneratorCpuUsPerRequest: 70,
    loadAverage1m: 1,
  };
}

test("each round of a Statehouse setup is divided by connect-redis's round of the same number", () => {
  const [check] = httpTargetChecks([
    system('redis', [1000, 2000, 4000]),
    system('statehouse-1', [1100, 1000, 4000]),
  ]);
  // Paired as they ran: 1.1, 0.5 and 1.0 (each side sorted first would give 0.55 to 1.0).
  assert.deepEqual(check?.requestsPerSecRounds, { lowest: 0.5, highest: 1.1 });
});

test('a Statehouse setup with rounds missing is an error, not a ratio', () => {
  assert.throws(
    () => httpTargetChecks([system('redis', [1000, 2000]), system('statehouse-1', [1000])]),
    /paired rounds: 1 against 2/,
  );
});
