import { appendFile, chmod, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressPolicy, Resolver } from './address-guard.js';
import {
  CloneError,
  checkRepositoryAddress,
  fetchFailure,
  gitPinConfig,
  guardedGit,
  networkTransports,
  pinRepositoryAddress,
  refNotFound,
  tooLargeError,
} from './git-client.js';
import { fetchAdvertisedRefs } from './ref-advertisement.js';
import { measureDiskUsage, watchDiskUsage } from './sandbox/disk.js';

/**
 * Git commands on the repository cache: bare mirrors that collect the commits
 * fetched for one repository URL, and the read-only trees checked out from
 * them. Callers serialise the commands on one mirror.
 */

/** File in a mirror that marks it as complete and names its URL; it is written last. */
export const mirrorMarker = 'faas-mirror';

/** Repository, ref and limits of one fetch. */
export interface FetchRequest {
  url: string;
  /** Branch, tag or commit SHA; empty for the remote's HEAD. */
  ref: string;
  timeoutMs: number;
  allowHttp: boolean;
  addressPolicy: AddressPolicy;
  /** Largest checkout, in bytes. A fetch may add at most this much to a mirror. */
  maxBytes: number;
  resolve?: Resolver;
}

/**
 * Settings of every mirror, in git's config file syntax. No automatic gc may
 * drop commits or race a reader. Packs are kept whole, so a killed fetch
 * leaves a temporary pack rather than loose objects of a commit without its
 * tree. Trees are extracted by fetching one commit from the mirror, which
 * need not be a ref tip.
 */
const mirrorConfig = ['[gc]', '\tauto = 0', '[maintenance]', '\tauto = false', '[transfer]', '\tunpackLimit = 1', '[uploadpack]', '\tallowAnySHA1InWant = true', ''].join('\n');

/** Creates a complete bare mirror for `url` at `path`, which must not exist. */
export async function createMirror(path: string, url: string, home: string, signal: AbortSignal): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const git = guardedGit({ baseDir: path, home, abort: signal, transports: [] });
  await git.init(true);
  await appendFile(join(path, 'config'), mirrorConfig);
  await writeFile(join(path, mirrorMarker), `${url}\n`, { mode: 0o600 });
}

/**
 * Returns the commit that object `id` (a commit, or a tag that points to
 * one) names in the mirror, or undefined when the mirror does not have it.
 * With whole packs, a commit present means its files are present too.
 */
export async function localCommit(mirror: string, id: string, home: string, signal: AbortSignal): Promise<string | undefined> {
  const git = guardedGit({ baseDir: mirror, home, abort: signal, transports: [] });
  try {
    return (await git.raw(['rev-parse', '--verify', '--quiet', `${id}^{commit}`])).trim() || undefined;
  } catch (error) {
    if (signal.aborted) throw error;
    return undefined;
  }
}

/**
 * Asks the repository which object `request.ref` names, without fetching
 * anything, under the same address guard, pinning and timeout as a fetch.
 * The worker reads the refs over HTTP itself (see ref-advertisement.ts) and
 * runs `git ls-remote` only when that returns nothing. Among the refs that
 * match, it picks the one `git fetch` would (the name itself, then under
 * refs/, refs/tags/, refs/heads/ and refs/remotes/). Returns a commit id, or
 * a tag id for an annotated tag. Throws CloneError.
 */
export async function resolveRemoteRef(mirror: string, request: FetchRequest, home: string, signal: AbortSignal): Promise<string> {
  const pinned = await checkRepositoryAddress(request.url, request.addressPolicy, request.resolve);
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const stopped = AbortSignal.any([signal, timeout]);
  const ref = request.ref === '' ? 'HEAD' : request.ref;
  const candidates = ref === 'HEAD' ? ['HEAD'] : [ref, `refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`, `refs/remotes/${ref}`, `refs/remotes/${ref}/HEAD`];
  const stops = { url: request.url, ref, cancel: signal, timeout, timeoutMs: request.timeoutMs, maxBytes: request.maxBytes };
  const failure = (error: unknown) => fetchFailure(error, { ...stops, tooLarge: new AbortController().signal });

  let fastPath: Map<string, string> | undefined;
  try {
    fastPath = await fetchAdvertisedRefs({ url: request.url, pinned, prefixes: candidates, signal: stopped });
  } catch (error) {
    throw failure(error);
  }
  const fastMatch = fastPath && candidates.find((name) => fastPath.has(name));
  if (fastMatch !== undefined) return fastPath!.get(fastMatch)!;

  // No refs, or no such ref: git's result and its error message are the reference.
  const git = guardedGit({ baseDir: mirror, home, abort: stopped, transports: networkTransports(request.allowHttp), pinConfig: gitPinConfig(pinned) });
  let output: string;
  try {
    output = await git.raw(['ls-remote', request.url, ref]);
  } catch (error) {
    throw failure(error);
  }
  const advertised = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [id, name] = line.trim().split('\t');
    if (id && name) advertised.set(name, id);
  }
  const match = candidates.find((name) => advertised.has(name));
  if (match === undefined) throw refNotFound(ref, request.url);
  return advertised.get(match)!;
}

/**
 * Fetches `request.ref` (depth 1) from the repository into the mirror and
 * returns the commit it names. The address guard, pinning, the timeout and
 * the size cap apply as they do to a fetch into a job folder: the mirror may
 * grow by at most `maxBytes`, checked while the fetch runs and once more
 * after it. Throws CloneError.
 */
export async function fetchIntoMirror(mirror: string, request: FetchRequest, home: string, signal: AbortSignal): Promise<string> {
  const pinConfig = await pinRepositoryAddress(request.url, request.addressPolicy, request.resolve);
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const tooLarge = new AbortController();
  const before = await measureDiskUsage(mirror);
  const sizeWatch = watchDiskUsage({ dir: mirror, limitBytes: before.bytes + request.maxBytes, onExceeded: () => tooLarge.abort() });
  const git = guardedGit({
    baseDir: mirror,
    home,
    abort: AbortSignal.any([signal, timeout, tooLarge.signal]),
    transports: networkTransports(request.allowHttp),
    pinConfig,
  });

  const ref = request.ref === '' ? 'HEAD' : request.ref;
  try {
    await git.raw(['fetch', '--depth=1', '--no-tags', '--no-write-commit-graph', request.url, ref]);
    // The watch walks the folder every 500 ms, so a fast fetch can end between two walks.
    if ((await measureDiskUsage(mirror)).bytes - before.bytes > request.maxBytes) throw tooLargeError(request.maxBytes);
    return (await git.raw(['rev-parse', '--verify', 'FETCH_HEAD^{commit}'])).trim();
  } catch (error) {
    const stops = { url: request.url, ref, cancel: signal, timeout, timeoutMs: request.timeoutMs, maxBytes: request.maxBytes };
    throw fetchFailure(error, { ...stops, tooLarge: tooLarge.signal });
  } finally {
    sizeWatch.stop();
  }
}

/**
 * Checks out commit `sha` from the mirror into `staging`, which must not
 * exist, as the fetch into a job folder would: a shallow repository of that
 * one commit with `origin` set to `url`, and its files. Returns the bytes it
 * takes; stops past `maxBytes`. Throws CloneError; the caller removes
 * `staging` on failure.
 */
export async function extractTree(
  mirror: string,
  sha: string,
  staging: string,
  options: { url: string; home: string; maxBytes: number; timeoutMs: number; signal: AbortSignal },
): Promise<number> {
  await mkdir(staging, { mode: 0o755 });
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const tooLarge = new AbortController();
  const sizeWatch = watchDiskUsage({ dir: staging, limitBytes: options.maxBytes, onExceeded: () => tooLarge.abort() });
  const git = guardedGit({
    baseDir: staging,
    home: options.home,
    abort: AbortSignal.any([options.signal, timeout, tooLarge.signal]),
    transports: ['file'],
  });

  try {
    await git.init();
    // No sample hooks or description, and one pack instead of loose objects: fewer files for every job to copy.
    await Promise.all(['hooks', 'description'].map((name) => rm(join(staging, '.git', name), { recursive: true, force: true })));
    await appendFile(join(staging, '.git', 'config'), '[fetch]\n\tunpackLimit = 1\n');
    await git.addRemote('origin', options.url);
    await git.raw(['fetch', '--depth=1', '--no-tags', '--no-write-commit-graph', mirror, sha]);
    await git.raw(['checkout', '--detach', '--quiet', 'FETCH_HEAD']);
    // FETCH_HEAD names the mirror's host path, which the job has no use for.
    await rm(join(staging, '.git', 'FETCH_HEAD'), { force: true });
    // Folders that git makes again when it needs them. Each job copies and
    // deletes every entry of the tree, and on ext4 new folders cost the most.
    await Promise.all(['branches', 'logs', 'info', 'objects/info'].map((name) => rm(join(staging, '.git', name), { recursive: true, force: true })));
    await Promise.all(['refs/heads', 'refs/tags'].map((name) => removeIfEmpty(join(staging, '.git', name))));
    await chmod(staging, 0o755);
    // As for the watch, more entries than a walk covers count as too large.
    const usage = await measureDiskUsage(staging);
    if (usage.bytes > options.maxBytes || usage.truncated) throw tooLargeError(options.maxBytes);
    return usage.bytes;
  } catch (error) {
    const stops = { url: options.url, ref: sha, cancel: options.signal, timeout, timeoutMs: options.timeoutMs, maxBytes: options.maxBytes };
    throw fetchFailure(error, { ...stops, tooLarge: tooLarge.signal });
  } finally {
    sizeWatch.stop();
  }
}

/** Removes folder `path` unless it has entries or is gone. */
async function removeIfEmpty(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw error;
  }
}
