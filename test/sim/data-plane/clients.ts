/**
 * Simulated clients: each runs one operation at a time on a few shared keys (so that they
 * contend), routes by the partition table it learned from the nodes (the real Router, as
 * src/client does), follows NOT_PRIMARY and UNAVAILABLE by refreshing its table and retrying
 * with the same idempotency id, and gives up at a deadline. Every operation is recorded as a
 * Jepsen history: invoke, then ok (it happened, with its result), fail (it surely did not: a
 * cas whose expected value did not match) or info (nobody knows: the client gave up).
 *
 * Every read goes to the primary (readFrom 'primary', the default): a read that allows any
 * replica may be stale by design, and the register model would rightly reject it, so none
 * is issued.
 *
 * Four kinds of key, as a session holds them: registers (set, cas, delete: checked against
 * the register model), counters (patch incr of `n` by 1: every acknowledged increment must
 * be counted exactly once), sets (patch add to `items`: an acknowledged addition is never
 * lost), both checked by checker/commutative.ts, and keys with a time to live (set with
 * ttlMs: not read after every clock says they expired, not gone before any clock could say
 * so), checked by checker/expiry.ts. A TTL key is written seldom, so that it expires between
 * its writes now and then, and across the crashes, failovers and clock jumps of the run.
 */
import { Router } from '../../../src/client/router.js';
import { ErrorCode } from '../../../src/core/errors.js';
import { decodeValue, encodeValue } from '../../../src/core/value-codec.js';
import { SeededRandom } from '../../../src/core/random.js';
import type { Command, Outcome } from '../../../src/store/index.js';
import type { HistoryEvent, OperationName } from '../checker/index.js';
import type { Payload, World } from './world.js';

/** How long one attempt waits for an answer before the client asks elsewhere. */
const attemptTimeoutMs = 300;
/** How long an operation is retried before its outcome is declared unknown. */
export const operationDeadlineMs = 2_000;
/** Pause between operations of one client: enough for others to interleave. */
const thinkMsMax = 40;
/** The TTL of every write of a `ttl…` key. */
export const ttlKeyTtlMs = 4_000;
/**
 * The share of operations on a `ttl…` key that write it. A key is picked about 15 times a
 * second, so a write comes every 3 s on average, and the gaps longer than the TTL plus the
 * clocks' spread let it expire.
 */
const ttlKeyWriteShare = 0.02;

interface Pending {
  readonly f: OperationName;
  readonly key: string;
  readonly command: Command;
  /** Idempotency sequence number of a write; the same across its retries. */
  readonly seq: number | null;
  readonly invokedAt: number;
  readonly deadline: number;
  attempt: number;
  attemptDeadline: number;
  resendAt: number | null;
  /** The node the last attempt went to, for the trace. */
  node: string;
}

class SimClient {
  readonly router = new Router();
  process: number;
  op: Pending | null = null;
  wakeAt = 0;
  nextSeq = 1;
  attempts = 0;
  /** The last value this client saw per key: what its cas operations expect. */
  readonly lastSeen = new Map<string, number>();

  constructor(readonly index: number) {
    this.process = index;
  }
}

export interface ClientStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
}

/** What the key holds, from its name: `counter…`, `set…` and `ttl…` keys, and registers. */
export function keyKind(key: string): 'register' | 'counter' | 'set' | 'ttl' {
  if (key.startsWith('counter')) return 'counter';
  if (key.startsWith('set')) return 'set';
  return key.startsWith('ttl') ? 'ttl' : 'register';
}

/** A get's answer as the history records it: a counter's count, a set's elements. */
function readValue(key: string, stored: unknown): unknown {
  if (stored === null) return null;
  const kind = keyKind(key);
  if (kind === 'register' || kind === 'ttl') return stored;
  const doc = stored as { n?: unknown; items?: unknown };
  return kind === 'counter' ? (doc.n ?? null) : (doc.items ?? null);
}

export class Clients {
  readonly history: HistoryEvent[] = [];
  readonly stats: ClientStats = { invoked: 0, ok: 0, fail: 0, info: 0 };
  /** Whether clients start new operations (the run stops them before checking). */
  active = true;
  private readonly clients: SimClient[] = [];
  private readonly random: SeededRandom;
  private nextValue = 1;
  /** The keys new operations pick from; see focus(). */
  private choices: readonly string[];

  constructor(
    private readonly world: World,
    count: number,
    readonly keys: readonly string[],
    seed: number,
  ) {
    this.random = new SeededRandom(seed);
    this.choices = keys;
    for (let i = 0; i < count; i++) this.clients.push(new SimClient(i));
    world.onClientMessage = (client, payload, now) => this.receive(client, payload, now);
  }

  /**
   * From now on, new operations pick only among `keys` (all of them when empty). The liveness
   * phase leaves out the keys of stuck partitions: an operation on one waits out its whole
   * deadline, and tells nothing the run does not know.
   */
  focus(keys: readonly string[]): void {
    this.choices = keys.length > 0 ? keys : this.keys;
  }

  get inFlight(): number {
    return this.clients.filter((c) => c.op !== null).length;
  }

  private nodeNames(): string[] {
    return this.world.nodes.map((n) => n.name);
  }

  private refreshTable(client: SimClient, hint?: string): void {
    const names = this.nodeNames();
    const to = hint ?? names[this.random.int(names.length)]!;
    this.world.send(`c${client.index}`, to, null, {
      kind: 'table?',
      client: client.index,
      attempt: ++client.attempts,
    });
  }

  private record(
    client: SimClient,
    type: HistoryEvent['type'],
    f: OperationName,
    key: string,
    value: unknown,
    now: number,
  ): void {
    this.history.push({ process: client.process, type, f, key, value, time: now });
  }

  /** One step of every client, after the world's step. */
  step(now: number): void {
    for (const client of this.clients) {
      const op = client.op;
      if (op === null) {
        if (this.active && now >= client.wakeAt) this.begin(client, now);
        continue;
      }
      if (now >= op.deadline) {
        this.complete(client, 'info', null, now, 'gave up');
        continue;
      }
      if (op.resendAt !== null && now >= op.resendAt) this.sendAttempt(client, now);
      else if (op.resendAt === null && now >= op.attemptDeadline) {
        // No answer: the node may be gone, or the table stale. Ask someone else.
        this.refreshTable(client);
        op.resendAt = now + 20;
      }
    }
  }

  private begin(client: SimClient, now: number): void {
    const key = this.choices[this.random.int(this.choices.length)]!;
    const r = this.random.next();
    const expected = client.lastSeen.get(key);
    const kind = keyKind(key);
    let f: OperationName;
    let command: Command;
    let invokeValue: unknown = null;
    // Mostly reads, as a session store sees; a stale read needs a read that no write on its
    // partition is holding back.
    if (kind === 'ttl' && r < ttlKeyWriteShare) {
      const value = this.nextValue++;
      f = 'write';
      command = { op: 'set', key, value: encodeValue(value), ttlMs: ttlKeyTtlMs };
      invokeValue = value;
    } else if (kind === 'ttl') {
      f = 'read';
      command = { op: 'get', key };
    } else if (r < 0.6) {
      f = 'read';
      command = { op: 'get', key };
    } else if (kind === 'counter') {
      f = 'incr';
      command = { op: 'patch', key, ops: [{ op: 'incr', path: 'n', by: 1 }], create: true };
      invokeValue = 1;
    } else if (kind === 'set') {
      const element = `e${this.nextValue++}`;
      f = 'add';
      command = {
        op: 'patch',
        key,
        ops: [{ op: 'add', path: 'items', values: [element] }],
        create: true,
      };
      invokeValue = element;
    } else if (r < 0.94 || expected === undefined) {
      const value = this.nextValue++;
      if (r < 0.82 || expected === undefined) {
        f = 'write';
        command = { op: 'set', key, value: encodeValue(value) };
        invokeValue = value;
      } else {
        f = 'cas';
        command = { op: 'cas', key, expected: encodeValue(expected), value: encodeValue(value) };
        invokeValue = [expected, value];
      }
    } else {
      f = 'delete';
      command = { op: 'delete', key };
    }
    client.op = {
      f,
      key,
      command,
      seq: f === 'read' ? null : client.nextSeq++,
      invokedAt: now,
      deadline: now + operationDeadlineMs,
      attempt: 0,
      attemptDeadline: 0,
      resendAt: null,
      node: '',
    };
    this.stats.invoked++;
    this.record(client, 'invoke', f, key, invokeValue, now);
    this.world.log(`c${client.index}: invoke ${f} ${key} ${JSON.stringify(invokeValue)}`);
    this.sendAttempt(client, now);
  }

  private sendAttempt(client: SimClient, now: number): void {
    const op = client.op!;
    op.resendAt = null;
    const address = client.router.route(op.key);
    if (address === null) {
      this.refreshTable(client);
      op.resendAt = now + 50;
      return;
    }
    const node = address.split(':')[0]!;
    op.attempt = ++client.attempts;
    op.attemptDeadline = now + attemptTimeoutMs;
    op.node = node;
    this.world.send(`c${client.index}`, node, null, {
      kind: 'request',
      client: client.index,
      attempt: op.attempt,
      request: {
        command: op.command,
        ...(op.seq !== null && {
          // Every earlier write of this client was answered or given up for good.
          id: { clientId: `client-${client.index}`, seq: op.seq, ackedBelow: op.seq },
        }),
      },
    });
  }

  private receive(index: number, payload: Payload, now: number): void {
    const client = this.clients[index];
    if (client === undefined) return;
    if (payload.kind === 'table') {
      client.router.update(payload.table);
      return;
    }
    if (payload.kind !== 'answer') return;
    const op = client.op;
    if (op === null || payload.attempt !== op.attempt || op.resendAt !== null) return;
    this.answer(client, op, payload.outcome, now);
  }

  private answer(client: SimClient, op: Pending, outcome: Outcome, now: number): void {
    if (outcome.ok) {
      let value: unknown = null;
      if (outcome.result.op === 'get') {
        const entry = outcome.result.entry;
        value = entry === null ? null : readValue(op.key, decodeValue(entry.value));
      }
      const register = keyKind(op.key) === 'register';
      if (register && op.f === 'read' && typeof value === 'number') {
        client.lastSeen.set(op.key, value);
      }
      if (register && (op.f === 'write' || op.f === 'cas')) {
        const command = op.command as Extract<Command, { op: 'set' | 'cas' }>;
        client.lastSeen.set(op.key, decodeValue(command.value) as number);
      }
      if (register && op.f === 'delete') client.lastSeen.delete(op.key);
      this.complete(client, 'ok', value, now, `from ${op.node}`);
      return;
    }
    switch (outcome.code) {
      case ErrorCode.VERSION_MISMATCH:
        if (op.f === 'cas') {
          this.complete(client, 'fail', null, now, `mismatch from ${op.node}`);
          return;
        }
        break;
      case ErrorCode.NOT_PRIMARY: {
        const hint = outcome.meta?.hint?.split(':')[0];
        this.refreshTable(client, hint);
        op.resendAt = now + 10;
        return;
      }
      case ErrorCode.UNAVAILABLE:
        this.refreshTable(client);
        op.resendAt = now + 50;
        return;
      case ErrorCode.RETRY_EXPIRED:
        this.complete(client, 'info', null, now, 'retry expired');
        return;
      default:
        break;
    }
    this.world.violations.push(
      `c${client.index}: unexpected answer to ${op.f} ${op.key}: ${outcome.code} ${outcome.message}`,
    );
    this.complete(client, 'info', null, now, outcome.code);
  }

  private complete(
    client: SimClient,
    type: 'ok' | 'fail' | 'info',
    value: unknown,
    now: number,
    note: string,
  ): void {
    const op = client.op!;
    this.stats[type]++;
    this.record(client, type, op.f, op.key, value, now);
    this.world.log(
      `c${client.index}: ${type} ${op.f} ${op.key}${type === 'ok' && op.f === 'read' ? ` => ${JSON.stringify(value)}` : ''} (${note})`,
    );
    client.op = null;
    client.wakeAt = now + this.random.int(thinkMsMax);
    // Jepsen's rule: a process whose operation is in doubt may still be running it, so the
    // client carries on as a new process.
    if (type === 'info') client.process += this.clients.length;
  }

  /** Operations on `keys` invoked at or after `since`, with how they ended. */
  outcomesSince(since: number): { key: string; type: HistoryEvent['type'] }[] {
    const open = new Map<number, HistoryEvent>();
    const out: { key: string; type: HistoryEvent['type'] }[] = [];
    for (const e of this.history) {
      if (e.type === 'invoke') {
        open.set(e.process, e);
        continue;
      }
      const inv = open.get(e.process);
      open.delete(e.process);
      if (inv !== undefined && inv.time >= since) out.push({ key: e.key, type: e.type });
    }
    return out;
  }
}
