export {
  Client,
  connect,
  type CallOptions,
  type ClientOptions,
  type Entry,
  type PatchOptions,
  type ReadOptions,
  type SetOptions,
  type WriteOptions,
  type PatchOp,
  type ClusterStatusView,
  type AcceptLossResult,
} from './client.js';
