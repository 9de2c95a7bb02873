/**
 * Session stores for express-session (`statehouse/express`) and @fastify/session
 * (`statehouse/fastify`), with merge on save (merge.ts) and the engine they share (engine.ts).
 */
export { createExpressStore, type ExpressStoreMethods } from './express.js';
export { createFastifyStore, FastifySessionStore, loadedField } from './fastify.js';
export {
  SessionLockLostError,
  SessionLockTimeoutError,
  type LockOptions,
  type Serializer,
  type SessionStoreOptions,
} from './engine.js';
export { diffDocuments, type FieldOp } from './merge.js';
