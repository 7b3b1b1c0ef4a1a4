import { JetStreamApiError } from '@nats-io/jetstream';

/** JetStream's "wrong last sequence": a compare-and-set lost to another writer. */
const wrongLastSequence = 10071;

/** Tells whether a KV create or update failed because the revision moved on. */
export function isCasConflict(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === wrongLastSequence;
}
