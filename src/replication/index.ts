export {
  DataPlane,
  type DataPlaneOptions,
  type PartitionPlacement,
  type PartitionReport,
  type PlaneEffects,
  type TableView,
} from './data-plane.js';
export {
  PartitionReplica,
  type PartitionReplicaOptions,
  type Effects,
  type ReplicaConfig,
  type ReplicationMessage,
} from './partition-replica.js';
