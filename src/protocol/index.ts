export {
  FrameDecoder,
  FrameWriter,
  frameBatch,
  frameHeaderBytes,
  type FrameError,
} from './frame.js';
export {
  decodeRequest,
  decodeReply,
  encodeRequest,
  encodeOk,
  encodeError,
  isBadMessage,
  type BadMessage,
  type Reply,
} from './codec.js';
export * from './messages.js';
export {
  parseRaftMessage,
  decodeRaftMessage,
  encodeRaftMessage,
  isBadRaftMessage,
  raftEntriesPerAppendMax,
  type BadRaftMessage,
  type DataGuard,
} from './raft-messages.js';
