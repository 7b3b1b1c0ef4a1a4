import type { JetStreamManager } from '@nats-io/jetstream';

/** Removes the messages of one key from a KV bucket's stream; with `upToRevision`, only those up to that revision. */
export type KvEraser = (key: string, upToRevision?: number) => Promise<void>;

/**
 * Returns a function that removes keys of KV bucket `bucket` by purging
 * their subjects from the bucket's stream. A KV delete or purge keeps a
 * marker message for each removed key for good, so the stream grows with
 * every key ever removed. nats-server 2.9 keeps each such subject in
 * memory, and matches it against every wildcard filter, such as those of
 * List's listings. An erased key leaves nothing and reads as never
 * written.
 */
export function kvEraser(jsm: JetStreamManager, bucket: string): KvEraser {
  const stream = `KV_${bucket}`;
  const subjectPrefix = `$KV.${bucket}.`;
  return async (key, upToRevision) => {
    await jsm.streams.purge(stream, { filter: subjectPrefix + key, ...(upToRevision === undefined ? {} : { seq: upToRevision + 1 }) });
  };
}
