/**
 * statehouse: the client, and `startNode()` to run a node in this process (embedded mode).
 */
export * from './client/index.js';
export { startNode, type NodeOptions, type StateNode } from './node/index.js';
export { StatehouseError, ErrorCode } from './core/errors.js';
export type { Durability, ReadFrom } from './protocol/index.js';
