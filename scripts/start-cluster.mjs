#!/usr/bin/env node
// `npm start`: a local three-node Statehouse cluster on 127.0.0.1:7401-7403, in the
// foreground. Ctrl-C, SIGTERM, or the end of its parent (the shell npm runs it in) stops every
// node (SIGINT to each, by its pid). A node that exits (drained, or killed to watch a
// failover) leaves the others running; when none is left, this exits.
// Until the playground exists this is the main program; it runs the built CLI (dist/).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
const base = Number(process.env.STATEHOUSE_PORT ?? 7401);
const nodes = [1, 2, 3].map((i) => ({ name: `node-${i}`, address: `127.0.0.1:${base + i - 1}` }));
const children = new Map();
let stopping = false;
let started = false;

function show(name, line) {
  try {
    const entry = JSON.parse(line);
    const extra = Object.entries(entry)
      .filter(([k]) => !['level', 'time', 'node', 'msg', 'pid', 'hostname'].includes(k))
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
      .join(' ');
    console.log(`[${name}] ${entry.msg ?? ''} ${extra}`.trimEnd());
  } catch {
    console.log(`[${name}] ${line}`);
  }
}

function start({ name, address }, seeds) {
  const args = [
    cli,
    'node',
    '--listen',
    address,
    '--id',
    name,
    ...(seeds ? ['--seeds', seeds] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(name, child);
  createInterface({ input: child.stdout }).on('line', (line) => show(name, line));
  createInterface({ input: child.stderr }).on('line', (line) => show(name, line));
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping && started) {
      const left = children.size;
      console.error(
        `[${name}] exited (${signal ?? code}); ${left} node${left === 1 ? '' : 's'} still running`,
      );
    } else if (!stopping) {
      console.error(`[${name}] exited (${signal ?? code}) while the cluster started`);
      stop(1);
    }
    if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s`)), 30_000);
    child.stdout.on('data', (d) => {
      if (String(d).includes('node listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  // SIGINT stops a node at once; SIGTERM would drain it, pointless when all of them stop.
  for (const child of children.values()) child.kill('SIGINT');
  if (children.size === 0) process.exit(code);
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
// `npm start` runs this under `sh -c`, and npm passes a SIGTERM to that shell only: the shell
// dies and this script is left to another parent. Its parent gone, it stops the nodes too,
// rather than leave them holding their ports with nobody to stop them.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop(0);
}, 250).unref();
// With the parent gone, so may be whoever read this output: a write that fails must not
// end the script before it stopped its nodes.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

try {
  await start(nodes[0]);
  for (const node of nodes.slice(1)) await start(node, nodes[0].address);
} catch (error) {
  console.error(`statehouse: ${error.message}`);
  stop(1);
}
if (!stopping) {
  started = true;
  const seeds = nodes.map((n) => n.address).join(',');
  console.log(`
Statehouse: three nodes are running (${seeds}). Try:

  node dist/cli/main.js status --seeds ${seeds}
  node dist/cli/main.js set cart:42 '{"items":["tea"]}' --ttl 30m --seeds ${seeds}
  node dist/cli/main.js get cart:42 --seeds ${seeds}

A node you stop (statehouse drain, kill) leaves the others running. Ctrl-C stops the cluster.
`);
}
