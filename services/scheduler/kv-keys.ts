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

/** Returns the keys of a KV bucket that match a subject filter. */
export type KvKeyLister = (filter: string) => Promise<string[]>;

/**
 * Returns a function that lists the keys of KV bucket `bucket` matching a
 * filter, from the subject counts of the bucket's stream, in one request.
 * A KV key listing creates a consumer instead, which cost about 3 ms even
 * when nothing matched, and which stays on the server until it times out.
 * A key removed with a KV delete or purge is still listed, by its marker.
 */
export function kvKeyLister(jsm: JetStreamManager, bucket: string): KvKeyLister {
  const stream = `KV_${bucket}`;
  const subjectPrefix = `$KV.${bucket}.`;
  return async (filter) => {
    const info = await jsm.streams.info(stream, { subjects_filter: subjectPrefix + filter });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(subjectPrefix.length));
  };
}
