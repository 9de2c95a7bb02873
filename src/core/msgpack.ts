/**
 * The one MessagePack configuration every part of Statehouse encodes with: values, frames,
 * Raft messages and the Raft log on disk. No records or structures (each encoding stands
 * alone, readable by any version), plain objects for maps (Map objects on request, for the
 * value codec's one key plain objects cannot take by assignment), 64-bit integers as numbers.
 *
 * msgpackr's output buffer and write position are module-level state, shared by every Packr
 * in the process: an encoding is a view into that shared buffer, and the next encoding, by any
 * instance, goes on after it (or into a fresh buffer), so a view stays valid. Never call
 * `useBuffer`: it resets the shared position for every instance, and the next encoding
 * anywhere then overwrites views still in use (tried for a transient request encoder; the
 * bench's shop then sent requests whose value bytes had been overwritten).
 */
import { Packr } from 'msgpackr';

export function createPackr(
  options: { copyBuffers?: boolean; mapsAsObjects?: boolean } = {},
): Packr {
  return new Packr({
    useRecords: false,
    structuredClone: false,
    mapsAsObjects: options.mapsAsObjects ?? true,
    variableMapSize: true,
    moreTypes: false,
    int64AsType: 'number',
    ...(options.copyBuffers === true && { copyBuffers: true }),
  });
}
