import type { NatsConnection } from '@nats-io/transport-node';

/** The part of nats.js's connection internals that `writeOncePerTurn` changes. */
interface Protocol {
  flushPending(): void;
}

/**
 * Makes `nc` write what it has queued once per turn of the event loop, in
 * the check phase, instead of once per microtask checkpoint. nats.js writes
 * to the socket after each callback that queued a command. A scheduler busy
 * with many jobs at once therefore made a write system call for nearly every
 * publish and acknowledgement, and on loopback each call also runs the
 * receiving side of TCP. Commands queued by all the callbacks of one turn
 * now go out in one write. A flush waits at most for the rest of the turn.
 *
 * NOTE: this replaces `flushPending`, a method that nats.js declares
 * private (checked against @nats-io/nats-core 3.4). Returns false and
 * changes nothing when the connection does not have it.
 */
export function writeOncePerTurn(nc: NatsConnection): boolean {
  const protocol = (nc as unknown as { protocol?: Partial<Protocol> }).protocol;
  const flushPending = protocol?.flushPending;
  if (!protocol || typeof flushPending !== 'function') return false;
  const flushNow = flushPending.bind(protocol);
  let scheduled = false;
  protocol.flushPending = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flushNow();
    });
  };
  return true;
}
