export {
  DataPlane,
  isWrite,
  type DataPlaneOptions,
  type PartitionPlacement,
  type TableView,
} from './data-plane.js';
