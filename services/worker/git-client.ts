import { GitError, GitPluginError, simpleGit, type SimpleGit } from 'simple-git';
import {
  RepositoryAddressError,
  checkRepositoryUrl,
  curlResolveEntry,
  type AddressPolicy,
  type PinnedAddress,
  type Resolver,
} from './address-guard.js';
import { errorMessage } from '../../common/errors.js';

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

/**
 * Returns the failure of a ref the remote does not have. A ref of a few hex
 * digits is most likely an abbreviated commit id, which only a full id replaces.
 */
export function refNotFound(ref: string, url: string, cause?: unknown): CloneError {
  const hint = /^[0-9a-f]{4,39}$/i.test(ref) ? '; to run a commit, give its full 40-character id' : '';
  return new CloneError('ref-not-found', `ref "${ref}" was not found in ${url}${hint}`, { cause });
}

/** Transports a git command may use. `file` is only for fetching from the worker's own cache. */
export type GitTransport = 'https' | 'http' | 'file';

export interface GuardedGitOptions {
  /** Folder the commands run in. */
  baseDir: string;
  /** Empty folder used as HOME, so git reads no user configuration. */
  home: string;
  abort: AbortSignal;
  transports: GitTransport[];
  /** `http.curloptResolve` entries from `pinRepositoryAddress`; empty for local commands. */
  pinConfig?: string[];
}

/**
 * Returns simple-git in strict mode for commands on a job's repository. Only
 * the given transports are enabled, for redirects and submodules too. Git
 * never prompts for credentials, runs no hooks and reads no system or user
 * configuration.
 */
export function guardedGit(options: GuardedGitOptions): SimpleGit {
  const allows = (transport: GitTransport) => (options.transports.includes(transport) ? 'always' : 'never');
  return simpleGit({
    baseDir: options.baseDir,
    abort: options.abort,
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
      ...(options.pinConfig ?? []),
      // A redirect would reach a host that was never checked.
      'http.followRedirects=false',
      'submodule.recurse=false',
      'protocol.allow=never',
      `protocol.https.allow=${allows('https')}`,
      `protocol.http.allow=${allows('http')}`,
      ...(options.transports.includes('file') ? ['protocol.file.allow=always'] : []),
      'core.hooksPath=/dev/null',
      'advice.detachedHead=false',
      'init.defaultBranch=main',
    ],
  }).env({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: options.home,
    GIT_TERMINAL_PROMPT: '0',
    GIT_LFS_SKIP_SMUDGE: '1',
    // Every transport but these is off, for redirects and submodules too.
    GIT_ALLOW_PROTOCOL: options.transports.join(':'),
    GIT_CONFIG_NOSYSTEM: '1',
    LANG: 'C',
  });
}

/** Returns the network transports a repository URL may use. */
export function networkTransports(allowHttp: boolean): GitTransport[] {
  return allowHttp ? ['https', 'http'] : ['https'];
}

/** Rejects internal addresses and returns the address a connection must go to. Throws CloneError. */
export async function checkRepositoryAddress(url: string, policy: AddressPolicy, resolve?: Resolver): Promise<PinnedAddress> {
  try {
    return await checkRepositoryUrl(url, policy, resolve);
  } catch (error) {
    if (error instanceof RepositoryAddressError && error.category !== undefined) {
      throw new CloneError('address-not-allowed', error.message, { cause: error });
    }
    throw new CloneError('network', errorMessage(error), { cause: error });
  }
}

/** Returns the git configuration that pins the connection to the checked address, so a second DNS answer cannot send git elsewhere. */
export function gitPinConfig(pinned: PinnedAddress): string[] {
  return pinned.literal ? [] : [`http.curloptResolve=${curlResolveEntry(pinned)}`];
}

/** Rejects internal addresses, then returns the git configuration that pins the connection to the address that was checked. Throws CloneError. */
export async function pinRepositoryAddress(url: string, policy: AddressPolicy, resolve?: Resolver): Promise<string[]> {
  return gitPinConfig(await checkRepositoryAddress(url, policy, resolve));
}

/** Signals and limits that can stop a git command, besides git's own errors. */
export interface FetchStops {
  url: string;
  ref: string;
  /** The job's cancellation. */
  cancel: AbortSignal;
  timeout: AbortSignal;
  timeoutMs: number;
  tooLarge: AbortSignal;
  maxBytes: number;
}

/** Returns the CloneError for a repository past the size cap. */
export function tooLargeError(maxBytes: number): CloneError {
  return new CloneError('too-large', `the repository is larger than the ${maxBytes}-byte limit for a checkout`);
}

/** Turns an error of a fetch or checkout into a CloneError, naming the limit that stopped it when one did. */
export function fetchFailure(error: unknown, stops: FetchStops): CloneError {
  if (error instanceof CloneError) return error;
  if (stops.cancel.aborted) return new CloneError('cancelled', 'cloning was cancelled', { cause: error });
  if (stops.tooLarge.aborted) return tooLargeError(stops.maxBytes);
  if (stops.timeout.aborted) {
    return new CloneError('timed-out', `cloning ${stops.url} took longer than ${stops.timeoutMs} ms`, { cause: error });
  }
  return classifyGitError(error, stops.url, stops.ref);
}

/** Turns git's error output into a typed failure with a sentence for the user. */
export function classifyGitError(error: unknown, url: string, ref: string): CloneError {
  const output = error instanceof GitError && !(error instanceof GitPluginError) ? error.message : String(error);
  const lastLine = output.trim().split('\n').filter(Boolean).pop() ?? 'no output';
  if (/couldn't find remote ref|not our ref|unadvertised object|no such remote ref|invalid refspec/i.test(output)) {
    return refNotFound(ref, url, error);
  }
  if (/authentication failed|could not read username|could not read password|terminal prompts disabled|\b401\b|\b403\b/i.test(output)) {
    return new CloneError('authentication-required', `${url} requires authentication; only public repositories can be cloned`, {
      cause: error,
    });
  }
  if (/repository not found|not found|\b404\b|does not appear to be a git repository|not a git repository/i.test(output)) {
    return new CloneError('repository-not-found', `repository ${url} was not found`, { cause: error });
  }
  // git names the URL again in "unable to access 'URL/': REASON", which the message already names.
  const reason = lastLine.replace(/^fatal:\s*/, '').replace(/^unable to access '[^']*':\s*/, '');
  return new CloneError('network', `could not fetch ${url}: ${reason}`, { cause: error });
}
