/**
 * What Linux's /proc says a process (or one of its threads) has used: CPU time, page faults,
 * system calls. The benches read them around a timed phase, for processes of their own.
 */
import { readFileSync } from 'node:fs';

/** The fields of a /proc stat file after the command; field N of proc(5) is at index N - 3. */
function statFields(path: string): string[] {
  return readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
}

/** CPU time (user + system, fields 14 and 15) in µs of a process or of one of its threads. */
function cpuMicrosOf(statPath: string): number {
  const fields = statFields(statPath);
  return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100);
}

export const processCpuMicros = (pid: number): number => cpuMicrosOf(`/proc/${pid}/stat`);

/** The main thread's: in Node.js, the one that runs the JavaScript (and its system calls). */
export const mainThreadCpuMicros = (pid: number): number =>
  cpuMicrosOf(`/proc/${pid}/task/${pid}/stat`);

/** Minor page faults (field 10): first touches of memory the kernel had to map. */
export const minorFaults = (pid: number): number => Number(statFields(`/proc/${pid}/stat`)[7]);

/** Read and write system calls a process has made (syscr + syscw of /proc/PID/io). */
export function processSyscalls(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => {
    const digits = new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1];
    if (digits === undefined) throw new Error(`/proc/${pid}/io has no ${name}`);
    return Number(digits);
  };
  return field('syscr') + field('syscw');
}
