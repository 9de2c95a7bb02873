export { DataPlane, isWrite, type DataPlaneOptions, type TableView } from './data-plane.js';
