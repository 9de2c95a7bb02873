/**
 * A small min-cost flow solver, the engine under placement (placement.ts).
 *
 * The problem. Placement asks "which copies should stay where they are, and where should the
 * missing ones go, so that every partition has its copies, every node its share and every
 * zone its spread?" That is a transportation problem: partitions send copies, nodes receive
 * them, capacities encode the rules, and a cost of 1 on every copy that does not exist yet
 * makes the cheapest answer the one that moves the fewest copies. Min-cost flow answers it
 * exactly, where a greedy pass gets stuck on a partition whose only nodes with room already
 * hold it, and would have to invent swap chains by hand.
 *
 * The algorithm is the primal-dual method: find shortest-path distances from the source in
 * the residual graph (Bellman-Ford with a queue, because reversed edges carry negative
 * costs), then push as much flow as possible along paths that use only edges on a shortest
 * path (Dinic's blocking flow on that subgraph), and repeat. Each phase keeps the invariant
 * that the flow is the cheapest for its value, so the residual graph never has a negative
 * cycle; the number of phases is bounded by the number of distinct path costs, which for
 * placement's costs (0, 1, 2 and one large penalty) is small.
 *
 * A caller may push flow by hand before solving (`push`), which is how placement starts from
 * "every copy stays": that is only sound when the pushed flow is itself cheapest for its
 * value, which holds when it uses only edges of cost 0 and no edge costs less than 0. The
 * solver checks the residual graph for negative cycles and fails loudly instead of looping.
 *
 * Determinism: edges are scanned in the order they were added, so the same graph built in the
 * same order gives the same flow, tie for tie.
 */
import { assert } from '../core/assert.js';

export class FlowNetwork {
  private readonly adjacency: number[][];
  // Typed arrays grown by doubling: placement builds graphs of hundreds of thousands of
  // edges per plan, and plain arrays of that size cost more in growth and GC than the solve.
  private edgeTo = new Int32Array(64);
  private edgeCapacity = new Float64Array(64);
  private edgeCost = new Float64Array(64);
  private edgeCount = 0;

  constructor(readonly vertexCount: number) {
    assert(Number.isInteger(vertexCount) && vertexCount >= 2, () => `vertexCount ${vertexCount}`);
    this.adjacency = Array.from({ length: vertexCount }, () => []);
  }

  /** Adds an edge and its residual twin; returns the edge's index (the twin is index ^ 1). */
  addEdge(from: number, to: number, capacity: number, cost: number): number {
    // Placement adds P*N edges per plan (200k at P = 1024 over 200 nodes), so the checks build
    // their messages only when they fail: a closure per check per edge was most of a plan.
    const fromEdges = this.adjacency[from];
    const toEdges = this.adjacency[to];
    if (
      fromEdges === undefined ||
      toEdges === undefined ||
      !this.isVertex(from) ||
      !this.isVertex(to)
    ) {
      assert(false, () => `edge ${from}->${to} out of range`);
    }
    if (!(capacity >= 0 && Number.isInteger(capacity))) assert(false, () => `capacity ${capacity}`);
    if (!(Number.isInteger(cost) && cost >= 0)) {
      assert(false, () => `cost ${cost}: costs are non-negative`);
    }
    const index = this.edgeCount;
    if (index + 2 > this.edgeTo.length) this.grow();
    this.edgeTo[index] = to;
    this.edgeTo[index + 1] = from;
    this.edgeCapacity[index] = capacity;
    this.edgeCapacity[index + 1] = 0;
    this.edgeCost[index] = cost;
    this.edgeCost[index + 1] = -cost;
    this.edgeCount = index + 2;
    fromEdges.push(index);
    toEdges.push(index + 1);
    return index;
  }

  /** Flow currently on an edge returned by addEdge. */
  flowOn(edge: number): number {
    return this.capacityOf(edge ^ 1);
  }

  /** Residual capacity of an edge returned by addEdge. */
  residual(edge: number): number {
    return this.capacityOf(edge);
  }

  /** Pushes `amount` along one edge by hand (see the module comment for when that is sound). */
  push(edge: number, amount: number): void {
    assert(this.capacityOf(edge) >= amount, () => `push ${amount} over edge ${edge}`);
    this.edgeCapacity[edge] = this.capacityOf(edge) - amount;
    this.edgeCapacity[edge ^ 1] = this.capacityOf(edge ^ 1) + amount;
  }

  /**
   * Sends as much more flow from `source` to `sink` as fits, cheapest first, on top of what is
   * already there. Returns the flow and cost added.
   */
  solve(source: number, sink: number): { flow: number; cost: number } {
    assert(source !== sink, 'source and sink must differ');
    let flow = 0;
    let cost = 0;
    const n = this.vertexCount;
    const level = new Int32Array(n);
    const cursor = new Int32Array(n);
    for (;;) {
      const dist = this.distances(source);
      const sinkDistance = dist[sink] ?? Infinity;
      if (sinkDistance === Infinity) break;
      // Blocking flows on the shortest-path subgraph until the sink drops out of it.
      for (;;) {
        if (!this.levels(source, sink, dist, level)) break;
        cursor.fill(0);
        for (;;) {
          const pushed = this.augment(source, sink, dist, level, cursor);
          if (pushed === 0) break;
          flow += pushed;
          cost += pushed * sinkDistance;
        }
      }
    }
    return { flow, cost };
  }

  private grow(): void {
    const size = this.edgeTo.length * 2;
    const to = new Int32Array(size);
    to.set(this.edgeTo);
    this.edgeTo = to;
    const capacity = new Float64Array(size);
    capacity.set(this.edgeCapacity);
    this.edgeCapacity = capacity;
    const cost = new Float64Array(size);
    cost.set(this.edgeCost);
    this.edgeCost = cost;
  }

  private isVertex(v: number): boolean {
    return Number.isInteger(v) && v >= 0 && v < this.vertexCount;
  }

  private capacityOf(edge: number): number {
    const c = this.edgeCapacity[edge];
    if (c === undefined || !(edge < this.edgeCount)) assert(false, () => `no edge ${edge}`);
    return c;
  }

  /** Bellman-Ford with a FIFO queue over edges with residual capacity. */
  private distances(source: number): Float64Array {
    const n = this.vertexCount;
    const dist = new Float64Array(n).fill(Infinity);
    const queued = new Uint8Array(n);
    // A vertex enters the queue at most n times unless a negative cycle exists, which the
    // cheapest-flow invariant rules out: exceeding it means the invariant was broken.
    const entries = new Uint32Array(n);
    const queue: number[] = [source];
    dist[source] = 0;
    queued[source] = 1;
    for (let head = 0; head < queue.length; head++) {
      const u = queue[head] as number;
      queued[u] = 0;
      const du = dist[u] as number;
      for (const e of this.adjacency[u] as number[]) {
        if ((this.edgeCapacity[e] as number) <= 0) continue;
        const v = this.edgeTo[e] as number;
        const dv = du + (this.edgeCost[e] as number);
        if (dv < (dist[v] as number)) {
          dist[v] = dv;
          if (!queued[v]) {
            queued[v] = 1;
            entries[v] = (entries[v] as number) + 1;
            assert((entries[v] as number) <= n, 'negative cycle in the residual graph');
            queue.push(v);
          }
        }
      }
      // Keep the queue array from growing without bound on long runs.
      if (head > 4096 && head * 2 > queue.length) {
        queue.splice(0, head + 1);
        head = -1;
      }
    }
    return dist;
  }

  private admissible(e: number, u: number, dist: Float64Array): boolean {
    if ((this.edgeCapacity[e] as number) <= 0) return false;
    const v = this.edgeTo[e] as number;
    return (dist[u] as number) + (this.edgeCost[e] as number) === dist[v];
  }

  /** BFS levels over admissible edges; false when the sink is unreachable. */
  private levels(source: number, sink: number, dist: Float64Array, level: Int32Array): boolean {
    level.fill(-1);
    level[source] = 0;
    const queue: number[] = [source];
    for (let head = 0; head < queue.length; head++) {
      const u = queue[head] as number;
      for (const e of this.adjacency[u] as number[]) {
        const v = this.edgeTo[e] as number;
        if (level[v] !== -1 || !this.admissible(e, u, dist)) continue;
        level[v] = (level[u] as number) + 1;
        queue.push(v);
      }
    }
    return level[sink] !== -1;
  }

  /**
   * One augmenting path along increasing levels, found without recursion (paths through
   * reversed edges can be long). Dead ends are cut from the level graph so each phase ends.
   */
  private augment(
    source: number,
    sink: number,
    dist: Float64Array,
    level: Int32Array,
    cursor: Int32Array,
  ): number {
    const path: number[] = [];
    let u = source;
    for (;;) {
      if (u === sink) {
        let amount = Infinity;
        for (const e of path) amount = Math.min(amount, this.edgeCapacity[e] as number);
        for (const e of path) this.push(e, amount);
        return amount;
      }
      const edges = this.adjacency[u] as number[];
      let advanced = false;
      while ((cursor[u] as number) < edges.length) {
        const e = edges[cursor[u] as number] as number;
        const v = this.edgeTo[e] as number;
        if (level[v] === (level[u] as number) + 1 && this.admissible(e, u, dist)) {
          path.push(e);
          u = v;
          advanced = true;
          break;
        }
        cursor[u] = (cursor[u] as number) + 1;
      }
      if (advanced) continue;
      level[u] = -1;
      const back = path.pop();
      if (back === undefined) return 0;
      u = this.edgeTo[back ^ 1] as number;
      cursor[u] = (cursor[u] as number) + 1;
    }
  }
}
