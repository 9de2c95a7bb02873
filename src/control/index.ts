/**
 * The control plane's pure parts: the replicated cluster state applied from the Raft log
 * (cluster-state.ts), the leader's decisions (controller.ts), and partition placement
 * (placement.ts), which the controller consults to propose failovers, repairs and
 * rebalancing moves. This file is the folder's whole public surface.
 */
export {
  applyMove,
  converge,
  initialTable,
  membersProblem,
  movesInFlightMaxDefault,
  placementOptionsProblem,
  planMoves,
  replicationFactorDefault,
  replicationFactorMax,
  summarize,
  tableProblem,
} from './placement.js';
export type {
  ConvergeResult,
  Member,
  MemberState,
  NodeSummary,
  PartitionAssignment,
  PartitionTable,
  PlacementChange,
  PlacementOptions,
  PlacementPlan,
} from './placement.js';
export {
  ClusterState,
  acceptLossCandidate,
  acceptLossProblem,
  changeProblem,
  isStuck,
  settingsInLog,
  type ApplyResult,
  type ClusterSettings,
  type ControlCommand,
  type MemberRecord,
} from './cluster-state.js';
export { isClusterStateSnapshot, isControlCommand } from './command-validation.js';
export { LeaderGrant, leaderGrantMsDefault } from './leader-grant.js';
export {
  decide,
  heardAt,
  looksFailed,
  type ControllerInput,
  type ControllerOptions,
  type Decision,
} from './controller.js';
