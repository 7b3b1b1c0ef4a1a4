import { mkdir } from 'node:fs/promises';
import { GitError, GitPluginError, simpleGit } from 'simple-git';
import {
  RepositoryAddressError,
  checkRepositoryUrl,
  curlResolveEntry,
  type AddressPolicy,
  type PinnedAddress,
  type Resolver,
} from './address-guard.js';
import { watchDiskUsage } from './sandbox/disk.js';

/** Cause of a failed fetch; it decides the message the user sees and whether a retry can help. */
export type CloneFailure =
  | 'repository-not-found'
  | 'authentication-required'
  | 'ref-not-found'
  | 'timed-out'
  | 'network'
  | 'cancelled'
  | 'address-not-allowed'
  | 'too-large';

export class CloneError extends Error {
  override readonly name = 'CloneError';

  constructor(
    readonly failure: CloneFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

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
}

/**
 * Fetches one commit of a repository (depth 1) into `dir` and checks it out.
 * Returns the commit SHA. Only https (and http when allowed) transports are
 * enabled and git never prompts for credentials.
 */
export async function cloneRepository(options: CloneOptions): Promise<string> {
  await mkdir(options.dir, { recursive: true });

  // Refuse internal addresses, then pin git's connection to the address that
  // was checked, so a second DNS answer cannot send it elsewhere.
  let pinned: PinnedAddress;
  try {
    pinned = await checkRepositoryUrl(options.url, options.addressPolicy, options.resolve);
  } catch (error) {
    if (error instanceof RepositoryAddressError && error.category !== undefined) {
      throw new CloneError('address-not-allowed', error.message, { cause: error });
    }
    throw new CloneError('network', error instanceof Error ? error.message : String(error), { cause: error });
  }
  const pinConfig = pinned.literal ? [] : [`http.curloptResolve=${curlResolveEntry(pinned)}`];

  const timeout = AbortSignal.timeout(options.timeoutMs);
  const tooLarge = new AbortController();
  const sizeWatch = watchDiskUsage({ dir: options.dir, limitBytes: options.maxBytes, onExceeded: () => tooLarge.abort() });
  const git = simpleGit({
    baseDir: options.dir,
    abort: AbortSignal.any([options.signal, timeout, tooLarge.signal]),
    strict: true,
    // Each setting named here narrows what git may do; none widens it.
    allowEnvironment: ['GIT_TERMINAL_PROMPT', 'GIT_ALLOW_PROTOCOL', 'GIT_CONFIG_NOSYSTEM', 'GIT_LFS_SKIP_SMUDGE', 'HOME'],
    allowConfig: [
      'protocol.allow',
      'protocol.*.allow',
      'core.hooksPath',
      'http.curloptResolve',
      'http.followRedirects',
      'submodule.recurse',
    ],
    config: [
      ...pinConfig,
      // A redirect would reach a host that was never checked.
      'http.followRedirects=false',
      'submodule.recurse=false',
      'protocol.allow=never',
      'protocol.https.allow=always',
      `protocol.http.allow=${options.allowHttp ? 'always' : 'never'}`,
      'core.hooksPath=/dev/null',
      'advice.detachedHead=false',
      'init.defaultBranch=main',
    ],
  }).env({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // No user config is read: HOME is the empty job folder.
    HOME: options.dir,
    GIT_TERMINAL_PROMPT: '0',
    GIT_LFS_SKIP_SMUDGE: '1',
    // Every transport but these is off, for redirects and submodules too.
    GIT_ALLOW_PROTOCOL: options.allowHttp ? 'https:http' : 'https',
    GIT_CONFIG_NOSYSTEM: '1',
    LANG: 'C',
  });

  const ref = options.ref === '' ? 'HEAD' : options.ref;
  try {
    await git.init();
    await git.addRemote('origin', options.url);
    await git.raw(['fetch', '--depth=1', '--no-tags', 'origin', ref]);
    await git.raw(['checkout', '--detach', '--quiet', 'FETCH_HEAD']);
    return (await git.revparse(['HEAD'])).trim();
  } catch (error) {
    if (options.signal.aborted) throw new CloneError('cancelled', 'cloning was cancelled', { cause: error });
    if (tooLarge.signal.aborted) {
      throw new CloneError('too-large', `the repository is larger than the ${options.maxBytes}-byte limit for a checkout`, { cause: error });
    }
    if (timeout.aborted) {
      throw new CloneError('timed-out', `cloning ${options.url} took longer than ${options.timeoutMs} ms`, { cause: error });
    }
    throw classifyGitError(error, options.url, ref);
  } finally {
    sizeWatch.stop();
  }
}

/** Turns git's error output into a typed failure with a sentence for the user. */
export function classifyGitError(error: unknown, url: string, ref: string): CloneError {
  const output = error instanceof GitError && !(error instanceof GitPluginError) ? error.message : String(error);
  const lastLine = output.trim().split('\n').filter(Boolean).pop() ?? 'no output';
  if (/couldn't find remote ref|not our ref|unadvertised object|no such remote ref|invalid refspec/i.test(output)) {
    return new CloneError('ref-not-found', `ref "${ref}" was not found in ${url}`, { cause: error });
  }
  if (/authentication failed|could not read username|could not read password|terminal prompts disabled|\b401\b|\b403\b/i.test(output)) {
    return new CloneError('authentication-required', `${url} requires authentication; only public repositories can be cloned`, {
      cause: error,
    });
  }
  if (/repository not found|not found|\b404\b|does not appear to be a git repository|not a git repository/i.test(output)) {
    return new CloneError('repository-not-found', `repository ${url} was not found`, { cause: error });
  }
  return new CloneError('network', `could not fetch ${url}: ${lastLine.replace(/^fatal:\s*/, '')}`, { cause: error });
}
