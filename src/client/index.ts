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
} from './client.js';
