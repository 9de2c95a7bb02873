/**
 * Structured logs (pino): one JSON object per line, cheap when a level is off, and readable
 * with `pino-pretty` for people. Every node log line carries the node id.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(
  level: LogLevel = 'info',
  bindings: Record<string, string> = {},
): Logger {
  return pino({ level, base: bindings, timestamp: pino.stdTimeFunctions.isoTime });
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** Logs a warning, unless too many of the same message came lately (see `limitedWarn`). */
export type LimitedWarn = (fields: Record<string, unknown>, message: string) => void;

/**
 * For warnings that anyone reaching the port can cause at will (a wrong token, a broken
 * stream) or a broken peer can cause thousands of a second (malformed messages): each message
 * is logged at most `perWindow` times per `windowMs`, so that they cannot fill the disk. The
 * first one logged after some were dropped says how many (`suppressed`).
 */
export function limitedWarn(
  logger: Logger,
  now: () => number,
  perWindow = 10,
  windowMs = 10_000,
): LimitedWarn {
  // Keyed by the message: a fixed text at every call site, so the map stays small.
  const windows = new Map<string, { start: number; logged: number; suppressed: number }>();
  return (fields, message) => {
    const at = now();
    let window = windows.get(message);
    let suppressed = 0;
    if (window === undefined || at - window.start >= windowMs) {
      suppressed = window?.suppressed ?? 0;
      window = { start: at, logged: 0, suppressed: 0 };
      windows.set(message, window);
    }
    if (window.logged >= perWindow) {
      window.suppressed++;
      return;
    }
    window.logged++;
    logger.warn(suppressed > 0 ? { ...fields, suppressed } : fields, message);
  };
}
