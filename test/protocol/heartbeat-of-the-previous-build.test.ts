/**
 * The heartbeat gained a required field, `granted` (a955f45), and the peer protocol version
 * must say so. Found by review: it stayed 2. Peers check that version at the hello
 * precisely so that "a node of another build is refused at the hello instead of dropping
 * every message" (docs/design-notes.md). A node of the build before a955f45 speaks peer
 * protocol 2 too, so it passes the hello, and then every heartbeat it sends as leader is
 * dropped by the new nodes as malformed: they never answer it, and its failure detector
 * declares them dead (unprompted pre-votes do not count as life).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { isBadRaftMessage, parseRaftMessage } from '../../src/protocol/raft-messages.js';
import { peerProtocolVersion } from '../../src/protocol/messages.js';

// The protocol version of the build before a955f45 (ae7c2bf set it, nothing changed it since).
const previousBuildPeerProtocol: number = 2;

test('a heartbeat of the previous build is read, or that build is refused at the hello', () => {
  // What a leader of the previous build sends: no `granted`.
  const previous = { type: 'heartbeat', from: 'n1', to: 'n2', term: 5, commit: 9, context: 3 };
  const parsed = parseRaftMessage(previous, (_v): _v is unknown => true);
  const refusedAtHello = peerProtocolVersion !== previousBuildPeerProtocol;
  assert.ok(
    refusedAtHello || !isBadRaftMessage(parsed),
    `same peer protocol (${peerProtocolVersion}), yet its heartbeat is dropped: ` +
      JSON.stringify(parsed),
  );
});
