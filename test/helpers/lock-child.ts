/**
 * Opens a FileRaftStorage on the dir in argv[2] and is SIGKILLed by itself right when it
 * writes its pid for the lock: a kill -9 between two system calls of taking the lock.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const dir = process.argv[2]!;
const writeSync = fs.writeSync;
// Whatever the lock's layout, its content (with the pid) is written once the file that will
// hold it exists.
fs.writeSync = ((fd: number, buffer: unknown, ...rest: unknown[]) => {
  if (Buffer.isBuffer(buffer) && buffer.toString().includes(`"pid":${process.pid},`)) {
    process.kill(process.pid, 'SIGKILL');
  }
  return (writeSync as (...args: unknown[]) => number)(fd, buffer, ...rest);
}) as typeof fs.writeSync;
syncBuiltinESMExports();
const { FileRaftStorage } = await import('../../src/node/raft-storage.js');
new FileRaftStorage<unknown>({ dir });
