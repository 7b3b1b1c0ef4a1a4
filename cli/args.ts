import { parseArgs } from 'node:util';
import { ConfigError, readAddress } from '../common/config.js';
import type { JobState } from '../gen/faas/v1/job.js';
import { parseCount, parseEnv, parseLimit, parseSize, parseState, parseTimeoutSeconds } from './option-values.js';
import { UsageError } from './usage-error.js';
import { isJobId } from '../common/ids.js';
import type { JobLimitName } from '../common/limits.js';

export const commandNames = [
  'submit',
  'status',
  'result',
  'logs',
  'list',
  'watch',
  'cancel',
  'login',
  'logout',
  'whoami',
  'token',
  'scale',
  'help',
] as const;
export type CommandName = (typeof commandNames)[number];

export { UsageError };

export interface HelpInvocation {
  name: 'help';
  /** Command to describe, or unset for the list of commands. */
  topic?: CommandName;
  /** Set when `faas` ran without arguments, so the list of commands goes to stderr with the exit code of a usage error. */
  missingCommand?: boolean;
}

export interface VersionInvocation {
  name: 'version';
}

interface ServerOption {
  /** Gateway address from --server, validated as host:port. */
  server?: string;
}

export interface SubmitInvocation extends ServerOption {
  name: 'submit';
  repositoryUrl: string;
  ref?: string;
  env: Record<string, string>;
  timeoutSeconds?: number;
  /** File to send as the job's standard input, or "-" for this process's standard input. */
  input?: string;
  idempotencyKey?: string;
  /** Ask for network access, which the worker grants only where its operator allows it. */
  network: boolean;
  /** Resource limits from --memory, --cpu, --pids, --open-files, --file-size and --disk, with only the options given. */
  limits: Partial<Record<JobLimitName, number>>;
  /** Retry policy from --max-attempts and --retry-failed, when either is given. */
  retry?: { maxAttempts: number; retryFailedRuns: boolean };
  wait: boolean;
  json: boolean;
  /** Job's program and arguments: everything after the first `--`. */
  command: string[];
  /** Arguments from --arg, appended to the command or given to the convention entrypoint. */
  args: string[];
}

export interface JobInvocation extends ServerOption {
  name: 'status' | 'result' | 'watch';
  jobId: string;
  json: boolean;
}

export interface LogsInvocation extends ServerOption {
  name: 'logs';
  jobId: string;
  follow: boolean;
}

export interface ListInvocation extends ServerOption {
  name: 'list';
  state?: JobState;
  /** Maximum number of jobs to print; all jobs when unset. */
  limit?: number;
  /** `nextPageToken` that an earlier `list --limit` printed, to go on from there. */
  pageToken?: string;
  json: boolean;
}

export interface CancelInvocation extends ServerOption {
  name: 'cancel';
  jobId: string;
  reason?: string;
  json: boolean;
}

export interface LoginInvocation {
  name: 'login';
  /** Issuer URL from --issuer; unset means FAAS_ISSUER or the local stack's provider. */
  issuer?: string;
  /** Client id from --client-id; unset means faas-cli. */
  clientId?: string;
  /** File with the client secret; set for the client credentials grant. */
  clientSecretFile?: string;
}

export interface LogoutInvocation {
  name: 'logout';
}

export interface WhoamiInvocation {
  name: 'whoami';
  json: boolean;
}

export interface TokenInvocation {
  name: 'token';
}

export interface ScaleInvocation extends ServerOption {
  name: 'scale';
  /** Recent scaling events to print. */
  events: number;
  json: boolean;
}

/** Commands that talk to the identity provider or the credentials file, never to the gateway. */
export type AccountInvocation = LoginInvocation | LogoutInvocation | WhoamiInvocation | TokenInvocation;

/** A parsed command line: the command and its validated options. */
export type Invocation =
  | HelpInvocation
  | VersionInvocation
  | SubmitInvocation
  | JobInvocation
  | LogsInvocation
  | ListInvocation
  | CancelInvocation
  | ScaleInvocation
  | AccountInvocation;

interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}

type OptionSpecs = Record<string, OptionSpec>;
type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

const globalOptions: OptionSpecs = {
  server: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

const json: OptionSpec = { type: 'boolean' };

const commandOptions: Record<CommandName, OptionSpecs> = {
  submit: {
    ref: { type: 'string' },
    env: { type: 'string', multiple: true },
    arg: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    input: { type: 'string' },
    'idempotency-key': { type: 'string' },
    network: { type: 'boolean' },
    memory: { type: 'string' },
    cpu: { type: 'string' },
    pids: { type: 'string' },
    'open-files': { type: 'string' },
    'file-size': { type: 'string' },
    disk: { type: 'string' },
    'max-attempts': { type: 'string' },
    'retry-failed': { type: 'boolean' },
    wait: { type: 'boolean' },
    json,
  },
  status: { json },
  result: { json },
  logs: { follow: { type: 'boolean', short: 'f' } },
  list: { state: { type: 'string' }, limit: { type: 'string' }, 'page-token': { type: 'string' }, json },
  watch: { json },
  cancel: { reason: { type: 'string' }, json },
  login: { issuer: { type: 'string' }, 'client-id': { type: 'string' }, 'client-secret-file': { type: 'string' } },
  logout: {},
  whoami: { json },
  token: {},
  scale: { events: { type: 'string' }, json },
  help: {},
};

/** Commands that never call the gateway, so --server means nothing to them. */
const commandsWithoutServer: readonly CommandName[] = ['login', 'logout', 'whoami', 'token'];

/** Splits arguments at the first `--`: options before it, the job's command after it. */
export function splitAtDoubleDash(argv: readonly string[]): { before: string[]; after: string[] | undefined } {
  const index = argv.indexOf('--');
  if (index === -1) return { before: [...argv], after: undefined };
  return { before: argv.slice(0, index), after: argv.slice(index + 1) };
}

export function isCommandName(value: string): value is CommandName {
  return (commandNames as readonly string[]).includes(value);
}

/**
 * Parses the arguments of `faas` (without the program name) into an
 * invocation. Throws UsageError naming the argument and the fix.
 */
export function parseCommandLine(argv: readonly string[]): Invocation {
  const { before, after } = splitAtDoubleDash(argv);
  const commandIndex = findCommandIndex(before);

  if (commandIndex === -1) {
    const { values } = parseOptions(before, globalOptions, undefined);
    if (values.help === true) return { name: 'help' };
    if (values.version === true) return { name: 'version' };
    if (before.length === 0 && after === undefined) return { name: 'help', missingCommand: true };
    throw new UsageError('missing command');
  }

  const name = before[commandIndex];
  if (!isCommandName(name)) {
    throw new UsageError(`unknown command "${name}"`);
  }

  const rest = [...before.slice(0, commandIndex), ...before.slice(commandIndex + 1)];
  const { values, positionals } = parseOptions(rest, { ...globalOptions, ...commandOptions[name] }, name);
  if (values.help === true) return { name: 'help', topic: name };

  if (after !== undefined && name !== 'submit') {
    throw new UsageError(`faas ${name} takes no arguments after --`, name);
  }

  if (values.server !== undefined && commandsWithoutServer.includes(name)) {
    throw new UsageError(`faas ${name} does not call the gateway, so it takes no --server`, name);
  }

  const server = readServer(values);
  switch (name) {
    case 'help':
      return parseHelp(positionals);
    case 'submit':
      return parseSubmit(values, positionals, after ?? [], server);
    case 'status':
    case 'result':
    case 'watch':
      return { name, server, jobId: expectJobId(positionals, name), json: values.json === true };
    case 'logs':
      return { name, server, jobId: expectJobId(positionals, name), follow: values.follow === true };
    case 'list':
      expectPositionals(positionals, [], name);
      return {
        name,
        server,
        state: parseState(stringOption(values, 'state')),
        limit: parseLimit(stringOption(values, 'limit')),
        pageToken: parsePageToken(stringOption(values, 'page-token')),
        json: values.json === true,
      };
    case 'cancel':
      return {
        name,
        server,
        jobId: expectJobId(positionals, name),
        reason: stringOption(values, 'reason'),
        json: values.json === true,
      };
    case 'login':
      expectPositionals(positionals, [], name);
      return parseLogin(values);
    case 'logout':
      expectPositionals(positionals, [], name);
      return { name };
    case 'whoami':
      expectPositionals(positionals, [], name);
      return { name, json: values.json === true };
    case 'token':
      expectPositionals(positionals, [], name);
      return { name };
    case 'scale': {
      expectPositionals(positionals, [], name);
      const events = stringOption(values, 'events');
      return { name, server, events: events === undefined ? 10 : parseEventCount(events), json: values.json === true };
    }
  }
}

/** Returns the index of the command word, skipping options given before it and the value of --server. */
function findCommandIndex(args: readonly string[]): number {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--server') {
      i++;
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') continue;
    return i;
  }
  return -1;
}

/**
 * Parses options with node:util parseArgs in its lenient mode and then checks
 * each option itself, so that errors use this CLI's wording and `--` keeps
 * its meaning of "the job's command follows".
 */
function parseOptions(
  args: string[],
  specs: OptionSpecs,
  command: CommandName | undefined,
): { values: OptionValues; positionals: string[] } {
  const { values, positionals, tokens } = parseArgs({
    args,
    options: specs,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });

  for (const token of tokens) {
    if (token.kind !== 'option') continue;

    const spec = specs[token.name];
    if (spec === undefined) {
      throw new UsageError(`unknown option ${token.rawName}`, command);
    }
    if (spec.type === 'boolean' && token.value !== undefined) {
      throw new UsageError(`${token.rawName} takes no value`, command);
    }
    if (spec.type === 'string' && token.value === undefined) {
      throw new UsageError(`${token.rawName} requires a value`, command);
    }
    // parseArgs takes the next argument as the value even when it is another
    // option, so `--ref --wait` would set ref to "--wait". A negative number
    // names no option, so it stays a value for the option's own check.
    if (spec.type === 'string' && !token.inlineValue && token.value?.startsWith('-') && token.value !== '-' && !/^-\d/.test(token.value)) {
      throw new UsageError(
        `${token.rawName} requires a value. To give one that starts with "-", write ${token.rawName}=VALUE`,
        command,
      );
    }
  }

  return { values, positionals };
}

function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function readServer(values: OptionValues): string | undefined {
  const server = stringOption(values, 'server');
  if (server === undefined) return undefined;
  try {
    return readAddress({ '--server': server }, '--server', server);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`--server: "${server}" is not HOST:PORT, such as 127.0.0.1:50051`);
    throw error;
  }
}

function expectPositionals(positionals: string[], names: string[], command: CommandName): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`missing ${names[positionals.length]}`, command);
  }
  if (positionals.length > names.length) {
    const extra = positionals[names.length];
    const hint = command === 'submit' ? `. Put the job's command after --, as in: faas submit URL -- ${extra}` : '';
    throw new UsageError(`unexpected argument "${extra}"${hint}`, command);
  }
  return positionals;
}

function expectJobId(positionals: string[], command: CommandName): string {
  const [jobId] = expectPositionals(positionals, ['job id'], command);
  return jobId;
}

function parseHelp(positionals: string[]): HelpInvocation {
  if (positionals.length === 0) return { name: 'help' };
  const [topic] = expectPositionals(positionals, ['command'], 'help');
  if (!isCommandName(topic)) throw new UsageError(`unknown command "${topic}"`);
  return { name: 'help', topic };
}

function parseSubmit(
  values: OptionValues,
  positionals: string[],
  command: string[],
  server: string | undefined,
): SubmitInvocation {
  const [repositoryUrl] = expectPositionals(positionals, ['repository URL'], 'submit');
  const envValues = values.env;
  const envEntries = Array.isArray(envValues) ? envValues.filter((value) => typeof value === 'string') : [];
  const argValues = values.arg;
  const timeout = stringOption(values, 'timeout');

  return {
    name: 'submit',
    server,
    repositoryUrl,
    ref: stringOption(values, 'ref'),
    env: parseEnv(envEntries),
    timeoutSeconds: timeout === undefined ? undefined : parseTimeoutSeconds(timeout),
    input: stringOption(values, 'input'),
    idempotencyKey: stringOption(values, 'idempotency-key'),
    network: values.network === true,
    limits: parseLimits(values),
    retry: parseRetry(values),
    wait: values.wait === true,
    json: values.json === true,
    command,
    args: Array.isArray(argValues) ? argValues.filter((value) => typeof value === 'string') : [],
  };
}

function parseLogin(values: OptionValues): LoginInvocation {
  const issuer = stringOption(values, 'issuer');
  const clientId = stringOption(values, 'client-id');
  const clientSecretFile = stringOption(values, 'client-secret-file');

  if (issuer !== undefined) {
    const url = URL.parse(issuer);
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new UsageError(`invalid --issuer ${issuer}: expected an http or https URL`, 'login');
    }
  }
  if (clientId === '') throw new UsageError('--client-id must not be empty', 'login');
  if (clientSecretFile !== undefined && clientId === undefined) {
    throw new UsageError('--client-secret-file requires --client-id, the confidential client the secret belongs to', 'login');
  }
  return { name: 'login', issuer, clientId, clientSecretFile };
}

/** Each limit option with its JobLimits field and whether it takes a size or a count. */
const limitOptions: ReadonlyArray<readonly [string, JobLimitName, 'size' | 'count']> = [
  ['memory', 'memoryBytes', 'size'],
  ['cpu', 'cpuPercent', 'count'],
  ['pids', 'pids', 'count'],
  ['open-files', 'openFiles', 'count'],
  ['file-size', 'fileSizeBytes', 'size'],
  ['disk', 'diskBytes', 'size'],
];

/** Reads the limit options that were given. The gateway checks each against its range. */
function parseLimits(values: OptionValues): Partial<Record<JobLimitName, number>> {
  const limits: Partial<Record<JobLimitName, number>> = {};
  for (const [option, field, kind] of limitOptions) {
    const raw = stringOption(values, option);
    if (raw !== undefined) limits[field] = kind === 'size' ? parseSize(option, raw) : parseCount(option, raw);
  }
  return limits;
}

function parseRetry(values: OptionValues): SubmitInvocation['retry'] {
  const raw = stringOption(values, 'max-attempts');
  const retryFailedRuns = values['retry-failed'] === true;
  if (raw === undefined && !retryFailedRuns) return undefined;
  return { maxAttempts: raw === undefined ? 0 : parseCount('max-attempts', raw), retryFailedRuns };
}

/** Checks --page-token for the shape of a job id, which next_page_token has. */
function parsePageToken(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!isJobId(raw)) {
    throw new UsageError(`--page-token: "${raw.slice(0, 64)}" is not a page token; pass the one that "faas list --limit" printed`, 'list');
  }
  return raw;
}

/** Parses --events: how many scaling events to print, 1 to 200. */
function parseEventCount(raw: string): number {
  const count = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(count) || count < 1 || count > 200) {
    throw new UsageError(`--events: expected a whole number from 1 to 200, got "${raw}"`, 'scale');
  }
  return count;
}
