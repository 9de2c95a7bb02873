/**
 * The one MessagePack configuration every part of Statehouse encodes with: values, frames,
 * Raft messages and the Raft log on disk. No records or structures (each encoding stands
 * alone, readable by any version), plain objects for maps, 64-bit integers as numbers.
 * Each caller gets its own instance: msgpackr keeps a working buffer per instance.
 */
import { Packr } from 'msgpackr';

export function createPackr(options: { copyBuffers?: boolean } = {}): Packr {
  return new Packr({
    useRecords: false,
    structuredClone: false,
    mapsAsObjects: true,
    variableMapSize: true,
    moreTypes: false,
    int64AsType: 'number',
    ...(options.copyBuffers === true && { copyBuffers: true }),
  });
}
