import type { NatsConnection } from '@nats-io/transport-node';

/** Handle on the queue message of a job that a worker holds. */
export interface QueueMessage {
  /** Sequence of the message in the job stream. */
  readonly seq: number;
  ack(): void;
  /** Hands the message back for redelivery, after `delayMs` when given. */
  nak(delayMs?: number): void;
  /** Restarts the ack deadline. */
  working(): void;
}

const ackPrefix = '$JS.ACK';
const numeric = /^\d+$/;

/**
 * Reads a lease, the ack subject of one delivery of a job stream message
 * (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`,
 * with a domain and an account hash after `$JS.ACK` on newer servers).
 * Returns the stream sequence, or undefined when the subject is not a
 * delivery of `stream` to `consumer`. Workers send leases back, so nothing
 * else may pass.
 */
export function parseLease(lease: string, stream: string, consumer: string): { seq: number } | undefined {
  if (!lease.startsWith(`${ackPrefix}.`)) return undefined;
  const tokens = lease.split('.');
  if (tokens.length === 9) tokens.splice(2, 0, '_', '');
  if (tokens.length < 11 || tokens.length > 12) return undefined;
  const [, , , , leaseStream, leaseConsumer, ...counters] = tokens;
  if (leaseStream !== stream || leaseConsumer !== consumer) return undefined;
  if (!counters.slice(0, 5).every((token) => numeric.test(token))) return undefined;
  const seq = Number(counters[1]);
  return Number.isSafeInteger(seq) && seq > 0 ? { seq } : undefined;
}

/**
 * Acknowledges a job's queue message through its ack subject. A replica that
 * takes over a job pulled by another one has no handle from the pull, but
 * JetStream takes an acknowledgement from any connection that publishes to
 * the subject.
 */
export class LeasedMessage implements QueueMessage {
  private settled = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    readonly seq: number,
  ) {}

  ack(): void {
    this.respond('+ACK', true);
  }

  nak(delayMs?: number): void {
    this.respond(delayMs ? `-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}` : '-NAK', true);
  }

  working(): void {
    this.respond('+WPI', false);
  }

  private respond(payload: string, final: boolean): void {
    if (this.settled) return;
    this.settled = final;
    this.nc.publish(this.subject, payload);
  }
}
