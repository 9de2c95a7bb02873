/**
 * The checkers that judge a simulated or chaos run: linearizability of register keys
 * (wgl.ts, Wing-Gong-Lowe per key) and bounds for commuting patch operations
 * (commutative.ts), expiry bounds for keys with a TTL (expiry.ts), over Jepsen-style histories (history.ts).
 */
export {
  MalformedHistoryError,
  describeOperation,
  pairOperations,
  parseJsonLines,
  toJsonLines,
  type EventType,
  type HistoryEvent,
  type Operation,
  type OperationName,
} from './history.js';
export { canonicalJson, registerModel, type Model, type RegisterState } from './models.js';
export {
  checkLinearizable,
  defaultStepsPerKeyMax,
  type CheckOptions,
  type CheckResult,
  type KeyResult,
  type Violation,
} from './wgl.js';
export {
  checkCommutative,
  type CommutativeResult,
  type CommutativeViolation,
  type CounterFinal,
} from './commutative.js';
export {
  checkExpiry,
  type ExpiryOptions,
  type ExpiryResult,
  type ExpiryViolation,
} from './expiry.js';
