import { mkdir } from 'node:fs/promises';
import type { AddressPolicy, Resolver } from './address-guard.js';
import { fetchFailure, guardedGit, networkTransports, pinRepositoryAddress, tooLargeError } from './git-client.js';
import type { RepoCache } from './repo-cache.js';
import { measureDiskUsage, watchDiskUsage } from './sandbox/disk.js';

export { CloneError, classifyGitError, type CloneFailure } from './git-client.js';

export interface CloneOptions {
  url: string;
  /** Branch, tag or commit SHA; empty for the remote's HEAD. */
  ref: string;
  dir: string;
  timeoutMs: number;
  allowHttp: boolean;
  signal: AbortSignal;
  /** Address ranges allowed besides public addresses, such as 127.0.0.0/8 for a local stack. */
  addressPolicy: AddressPolicy;
  /** Largest checkout, in bytes; the fetch is stopped past it. */
  maxBytes: number;
  /** Resolves host names; the system resolver by default. */
  resolve?: Resolver;
  /** The worker's repository cache. Without one, every call fetches into `dir` afresh. */
  cache?: RepoCache;
  /** When the job was submitted, in ms since the epoch; the cache may reuse a ref lookup made after it. */
  submittedAtMs?: number;
  /** The cached tree that `dir` is an unchanged copy of, from an earlier job's `Checkout.tree`. */
  previousTree?: string;
}

/**
 * Puts one commit of a repository into `dir` and returns its SHA, with the
 * cached tree that `dir` is now a copy of. With a cache, the commit is copied
 * from the cache's read-only tree, which is fetched first when the cache does
 * not have it. Without one, the commit is fetched (depth 1) into `dir`, which
 * must be empty. Only https (and http when allowed) transports are enabled
 * and git never prompts for credentials. Throws CloneError.
 */
export async function cloneRepository(options: CloneOptions): Promise<{ commitSha: string; tree?: string }> {
  if (options.cache) return options.cache.checkout(options, options.dir, options.previousTree);
  return { commitSha: await fetchIntoFolder(options) };
}

/** Fetches the commit into a new repository in `dir` and checks it out. */
async function fetchIntoFolder(options: CloneOptions): Promise<string> {
  await mkdir(options.dir, { recursive: true });
  const pinConfig = await pinRepositoryAddress(options.url, options.addressPolicy, options.resolve);

  const timeout = AbortSignal.timeout(options.timeoutMs);
  const tooLarge = new AbortController();
  const sizeWatch = watchDiskUsage({ dir: options.dir, limitBytes: options.maxBytes, onExceeded: () => tooLarge.abort() });
  const git = guardedGit({
    baseDir: options.dir,
    // No user config is read: HOME is the empty job folder.
    home: options.dir,
    abort: AbortSignal.any([options.signal, timeout, tooLarge.signal]),
    transports: networkTransports(options.allowHttp),
    pinConfig,
  });

  const ref = options.ref === '' ? 'HEAD' : options.ref;
  try {
    await git.init();
    await git.addRemote('origin', options.url);
    await git.raw(['fetch', '--depth=1', '--no-tags', 'origin', ref]);
    await git.raw(['checkout', '--detach', '--quiet', 'FETCH_HEAD']);
    // The watch walks the folder every 500 ms, so a fast fetch can end between two walks.
    // As for the watch, more entries than a walk covers count as too large.
    const usage = await measureDiskUsage(options.dir);
    if (usage.bytes > options.maxBytes || usage.truncated) throw tooLargeError(options.maxBytes);
    return (await git.revparse(['HEAD'])).trim();
  } catch (error) {
    const stops = { url: options.url, ref, cancel: options.signal, timeout, timeoutMs: options.timeoutMs, maxBytes: options.maxBytes };
    throw fetchFailure(error, { ...stops, tooLarge: tooLarge.signal });
  } finally {
    sizeWatch.stop();
  }
}
