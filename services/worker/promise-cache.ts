/**
 * Returns the promise cached under `key`, calling `make` when there is none.
 * A promise that rejects leaves the cache, so the next call tries again.
 */
export function cachedUntilRejected<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let cached = cache.get(key);
  if (cached === undefined) {
    cached = make();
    cache.set(key, cached);
    cached.catch(() => cache.delete(key));
  }
  return cached;
}
