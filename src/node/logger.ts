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
