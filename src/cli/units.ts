/**
 * Reading sizes and durations as people write them: `512mb`, `1GiB`, `30s`, `5m`.
 * Sizes use powers of 1024 whatever the spelling, as memory limits conventionally do.
 */

const sizeUnits: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

const durationUnits: Record<string, number> = {
  '': 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

function parseWithUnits(text: string, units: Record<string, number>, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match?.[2]?.toLowerCase() ?? '';
  const factor = units[unit];
  if (!match || factor === undefined) {
    throw new Error(
      `'${text}' is not a ${what} (examples: ${what === 'size' ? '1048576, 512kb, 256mb, 2gb' : '500, 500ms, 30s, 5m, 1h'})`,
    );
  }
  const value = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new Error(`'${text}' must be a positive ${what}`);
  return value;
}

/** Bytes in a size such as `512mb`; a bare number is bytes. */
export function parseSize(text: string): number {
  return parseWithUnits(text, sizeUnits, 'size');
}

/** Milliseconds in a duration such as `30s`; a bare number is milliseconds. */
export function parseDuration(text: string): number {
  return parseWithUnits(text, durationUnits, 'duration');
}
