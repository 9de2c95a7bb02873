import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlowNetwork } from '../../src/control/min-cost-flow.js';

/** Cheapest way to give each of `costs.length` jobs to a distinct worker, by trying all. */
function bruteForce(costs: readonly (readonly number[])[], workers: number): number {
  let best = Infinity;
  const used = new Array<boolean>(workers).fill(false);
  const go = (job: number, sum: number): void => {
    if (sum >= best) return;
    if (job === costs.length) {
      best = sum;
      return;
    }
    for (let w = 0; w < workers; w++) {
      if (used[w]) continue;
      used[w] = true;
      go(job + 1, sum + (costs[job]?.[w] ?? 0));
      used[w] = false;
    }
  };
  go(0, 0);
  return best;
}

test('the flow solver finds the cheapest assignment, the same as trying every assignment', () => {
  const problem = fc.integer({ min: 1, max: 6 }).chain((workers) =>
    fc.record({
      workers: fc.constant(workers),
      costs: fc.array(
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: workers, maxLength: workers }),
        {
          minLength: 1,
          maxLength: workers,
        },
      ),
      presolved: fc.boolean(),
    }),
  );
  fc.assert(
    fc.property(problem, ({ workers, costs, presolved }) => {
      const jobs = costs.length;
      const net = new FlowNetwork(2 + jobs + workers);
      const jobEdges = costs.map((_, j) => net.addEdge(0, 2 + j, 1, 0));
      const pairEdges = costs.map((row, j) =>
        row.map((c, w) => net.addEdge(2 + j, 2 + jobs + w, 1, c)),
      );
      const workerEdges = Array.from({ length: workers }, (_, w) =>
        net.addEdge(2 + jobs + w, 1, 1, 0),
      );
      let cost = 0;
      // Starting from a hand-pushed flow on cost-0 edges must give the same optimum.
      if (presolved) {
        costs.forEach((row, j) => {
          const w = row.findIndex((c, i) => c === 0 && net.residual(workerEdges[i] as number) > 0);
          if (w < 0) return;
          for (const e of [jobEdges[j], pairEdges[j]?.[w], workerEdges[w]])
            net.push(e as number, 1);
        });
      }
      const solved = net.solve(0, 1);
      cost += solved.cost;
      const flow = jobEdges.reduce((sum, e) => sum + net.flowOn(e), 0);
      assert.equal(flow, jobs);
      assert.equal(cost, bruteForce(costs, workers));
    }),
    { numRuns: 500 },
  );
});
