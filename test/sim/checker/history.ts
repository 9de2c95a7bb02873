/**
 * Histories: what the clients saw, in the shape Jepsen and Knossos use.
 *
 * A history is a list of events, one JSON object per line. A client writes an `invoke` event
 * when it sends a request (carrying the arguments) and one completion when it learns the
 * outcome: `ok` (it happened; the event carries the result), `fail` (it definitely did not
 * happen, e.g. a cas whose expected value did not match) or `info` (nobody knows: a timeout, a
 * lost connection). The checkers do not work on events but on operations, an invoke paired
 * with its completion: the interval [call, ret] during which the operation took effect, if it
 * did.
 *
 * Pairing rules, and why:
 *  1. A process has at most one operation in flight. Jepsen's processes are single-threaded
 *     clients; a second invoke before the first completed means the recorder is broken, and a
 *     checker fed a broken history proves nothing, so it is refused as malformed.
 *  2. `fail` operations are dropped: they had no effect, so no linearization needs them.
 *  3. `info` operations get ret = +Infinity: the effect, if any, happened at some unknown
 *     moment after the invoke, possibly long after the client gave up (a request can sit in a
 *     queue). An invoke with no completion at the end of the history is the same thing (the
 *     run stopped while it was in flight), as in Knossos.
 *  4. The completion must name the same f and key as its invoke and must not come before it
 *     in time; otherwise the history is malformed.
 *
 * Parsing validates every field and names the 1-based line of the first bad one, because a
 * history is usually a file from a failed run that someone is reading by hand.
 */

export const operationNames = ['read', 'write', 'cas', 'delete', 'incr', 'add'] as const;
export type OperationName = (typeof operationNames)[number];

export const eventTypes = ['invoke', 'ok', 'fail', 'info'] as const;
export type EventType = (typeof eventTypes)[number];

export interface HistoryEvent {
  process: number;
  type: EventType;
  f: OperationName;
  key: string;
  /** invoke: the arguments; ok: the result (null when absent); fail and info: ignored. */
  value: unknown;
  /** Any unit, but one clock for the whole history: only the order of times matters. */
  time: number;
}

export interface Operation {
  process: number;
  f: OperationName;
  key: string;
  /** write: the value; cas: [expected, new]; incr: the amount; add: the element. */
  input: unknown;
  /** ok: the result (a read's value, null when absent); info: null, unknown. */
  output: unknown;
  call: number;
  /** +Infinity when the outcome is unknown (status 'info'). */
  ret: number;
  status: 'ok' | 'info';
}

/** A history that cannot be checked: bad JSON, a bad field, or impossible event order. */
export class MalformedHistoryError extends Error {
  constructor(
    message: string,
    /** 1-based line of the JSON-lines text, when the fault is in one line. */
    readonly line?: number,
  ) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'MalformedHistoryError';
  }
}

/** One event per line; `undefined` values are written as null so that the line parses back. */
export function toJsonLines(events: readonly HistoryEvent[]): string {
  return events
    .map((e) =>
      JSON.stringify({
        process: e.process,
        type: e.type,
        f: e.f,
        key: e.key,
        value: e.value === undefined ? null : e.value,
        time: e.time,
      }),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** Parses JSON lines, skipping blank lines; throws MalformedHistoryError naming the line. */
export function parseJsonLines(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new MalformedHistoryError(`not JSON (${(err as Error).message})`, i + 1);
    }
    events.push(validateEvent(parsed, i + 1));
  }
  return events;
}

function validateEvent(raw: unknown, line: number): HistoryEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new MalformedHistoryError('an event must be a JSON object', line);
  }
  const o = raw as Record<string, unknown>;
  const { process, type, f, key, time } = o;
  if (typeof process !== 'number' || !Number.isSafeInteger(process) || process < 0) {
    throw new MalformedHistoryError('process must be a non-negative integer', line);
  }
  if (!eventTypes.includes(type as EventType)) {
    throw new MalformedHistoryError(`type must be one of ${eventTypes.join(', ')}`, line);
  }
  if (!operationNames.includes(f as OperationName)) {
    throw new MalformedHistoryError(`f must be one of ${operationNames.join(', ')}`, line);
  }
  if (typeof key !== 'string') throw new MalformedHistoryError('key must be a string', line);
  if (typeof time !== 'number' || !Number.isFinite(time)) {
    throw new MalformedHistoryError('time must be a finite number', line);
  }
  if (!Object.hasOwn(o, 'value')) {
    throw new MalformedHistoryError('value is missing (write null when there is none)', line);
  }
  return {
    process,
    type: type as EventType,
    f: f as OperationName,
    key,
    value: o['value'],
    time,
  };
}

/** Checks that an invoke's arguments fit its f, so that models never see a malformed input. */
function validateInput(e: HistoryEvent, index: number): void {
  const bad = (what: string): never => {
    throw new MalformedHistoryError(`event ${index} (process ${e.process}): ${what}`);
  };
  if (e.f === 'cas' && (!Array.isArray(e.value) || e.value.length !== 2)) {
    bad('a cas invoke carries [expected, new]');
  }
  if (e.f === 'incr' && (typeof e.value !== 'number' || !Number.isFinite(e.value))) {
    bad('an incr invoke carries a finite amount');
  }
}

/**
 * Pairs each invoke with its completion (rules 1-4 above). Operations come out in the order
 * of their invokes. Event indices in errors are 0-based positions in `events`.
 */
export function pairOperations(events: readonly HistoryEvent[]): Operation[] {
  const inFlight = new Map<number, { event: HistoryEvent; index: number; slot: number }>();
  // Slots keep invoke order; a failed operation leaves a hole that is filtered out at the end.
  const slots: (Operation | undefined)[] = [];
  events.forEach((e, index) => {
    const open = inFlight.get(e.process);
    if (e.type === 'invoke') {
      if (open !== undefined) {
        throw new MalformedHistoryError(
          `event ${index}: process ${e.process} invokes ${e.f} while its ${open.event.f} ` +
            `from event ${open.index} is still in flight`,
        );
      }
      validateInput(e, index);
      inFlight.set(e.process, { event: e, index, slot: slots.length });
      slots.push(undefined);
      return;
    }
    if (open === undefined) {
      throw new MalformedHistoryError(
        `event ${index}: process ${e.process} completes (${e.type}) with nothing in flight`,
      );
    }
    const inv = open.event;
    if (inv.f !== e.f || inv.key !== e.key) {
      throw new MalformedHistoryError(
        `event ${index}: process ${e.process} completes ${e.f} on ${JSON.stringify(e.key)} ` +
          `but invoked ${inv.f} on ${JSON.stringify(inv.key)} (event ${open.index})`,
      );
    }
    if (e.time < inv.time) {
      throw new MalformedHistoryError(
        `event ${index}: completion at time ${e.time} precedes its invoke at ${inv.time}`,
      );
    }
    inFlight.delete(e.process);
    if (e.type === 'fail') return;
    slots[open.slot] = {
      process: e.process,
      f: inv.f,
      key: inv.key,
      input: inv.value,
      output: e.type === 'ok' ? e.value : null,
      call: inv.time,
      ret: e.type === 'ok' ? e.time : Infinity,
      status: e.type === 'ok' ? 'ok' : 'info',
    };
  });
  // Still in flight when the run ended: an unknown outcome (rule 3).
  for (const { event: inv, slot } of inFlight.values()) {
    slots[slot] = {
      process: inv.process,
      f: inv.f,
      key: inv.key,
      input: inv.value,
      output: null,
      call: inv.time,
      ret: Infinity,
      status: 'info',
    };
  }
  return slots.filter((op): op is Operation => op !== undefined);
}

/** One line a person can read: `process 2: read "k" -> 5 [10, 20]`. */
export function describeOperation(op: Operation): string {
  const show = (v: unknown): string => JSON.stringify(v) ?? 'undefined';
  const args =
    op.f === 'read' || op.f === 'delete'
      ? ''
      : op.f === 'cas' && Array.isArray(op.input)
        ? ` ${show(op.input[0])} -> ${show(op.input[1])}`
        : ` ${show(op.input)}`;
  const result =
    op.status === 'info' ? ' (outcome unknown)' : op.f === 'read' ? ` => ${show(op.output)}` : '';
  const ret = op.ret === Infinity ? '?' : String(op.ret);
  return `process ${op.process}: ${op.f} ${show(op.key)}${args}${result} [${op.call}, ${ret}]`;
}
