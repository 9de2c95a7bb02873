export {
  batchByDestination,
  DataPlane,
  type DataPlaneOptions,
  type PartitionPlacement,
  type PartitionReport,
  leaseMsDefault,
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
export { LeaseTable, leaseOptions, clockDriftFactor, type LeaseMessage } from './leases.js';
