import { ErrorCode, StatehouseError } from './errors.js';

/** Splits `host:port` (or `[ipv6]:port`), refusing anything else with a message naming the form. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new StatehouseError(
      ErrorCode.BAD_REQUEST,
      `'${address}' is not an address of the form host:port`,
    );
  }
  return { host: match[1], port };
}
