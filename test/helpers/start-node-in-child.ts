/**
 * Starts one node in a child process (start-node-child.ts), so that a test can give up on a
 * start that hangs: resolves with the child's one line, `STARTED ...` or `FAILED <code> ...`,
 * or 'HUNG' once `waitMs` passed and the child was killed.
 */
import { spawn } from 'node:child_process';

export function startNodeInChild(options: object, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/helpers/start-node-child.ts', JSON.stringify(options)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), waitMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(out.trim() === '' ? 'HUNG' : out.trim());
    });
  });
}
