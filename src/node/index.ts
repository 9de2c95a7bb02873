export { startNode, type NodeOptions, type StateNode } from './start-node.js';
export { createLogger, type Logger, type LogLevel } from './logger.js';
