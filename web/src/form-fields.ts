// Parsing of the submit form's text fields. Nothing here imports the generated clients, so Node tests can load it.

import { splitFieldMessage } from '../../common/field-message.js';

/** Text fields of the submit form, as typed. */
export interface JobFormValues {
  repositoryUrl: string;
  ref: string;
  /** Program and arguments on one line, split into words like a shell does (quotes and backslashes). */
  command: string;
  /** One argument per line. */
  args: string;
  /** KEY=VALUE lines. */
  env: string;
  /** Text written to the job's standard input. */
  input: string;
  /** Whole seconds as typed; empty for the operator's default. */
  timeoutSeconds: string;
  /** Whole MiB as typed; empty for the operator's default. */
  memoryMiB: string;
}

export type JobFormField = keyof JobFormValues;
export type FieldErrors = Partial<Record<JobFormField, string>>;

/**
 * Splits a command line into words: whitespace separates words, single quotes keep everything literally,
 * double quotes keep everything but `\"` and `\\`, and a backslash outside quotes keeps the next character.
 */
export function splitCommandLine(line: string): { words: string[] } | { error: string } {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let index = 0; index < line.length; index++) {
    const character = line[index];
    if (quote === "'") {
      if (character === "'") quote = undefined;
      else word += character;
    } else if (quote === '"') {
      if (character === '"') quote = undefined;
      else if (character === '\\' && (line[index + 1] === '"' || line[index + 1] === '\\')) word += line[++index];
      else word += character;
    } else if (character === "'" || character === '"') {
      quote = character;
      inWord = true;
    } else if (character === '\\' && index + 1 < line.length) {
      word += line[++index];
      inWord = true;
    } else if (/\s/.test(character)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += character;
      inWord = true;
    }
  }
  if (quote !== undefined) return { error: `The ${quote === "'" ? 'single' : 'double'} quote is not closed` };
  if (inWord) words.push(word);
  return { words };
}

/** Parses KEY=VALUE lines. Blank lines and lines that start with # are skipped. */
export function parseEnvironment(text: string): { env: Record<string, string> } | { error: string } {
  const env: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (const [index, rawLine] of lines.entries()) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const separator = line.indexOf('=');
    if (separator <= 0) return { error: `Line ${index + 1}: expected KEY=VALUE, got ${JSON.stringify(line.slice(0, 40))}` };
    const name = line.slice(0, separator).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      return { error: `Line ${index + 1}: ${JSON.stringify(name.slice(0, 40))} is not a variable name; use letters, digits and _, not starting with a digit` };
    }
    if (Object.hasOwn(env, name)) return { error: `Line ${index + 1}: ${name} is set twice` };
    env[name] = rawLine.slice(rawLine.indexOf('=') + 1);
  }
  return { env };
}

/**
 * Returns the problem of a repository URL as typed, or undefined. Only its
 * shape is checked here, and the gateway checks the rest, such as whether its
 * operator accepts http.
 */
export function repositoryUrlProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return 'Enter the repository URL, such as https://git.example.com/team/repo.git';
  if (!/^https?:\/\/[^/\s]/i.test(trimmed)) return 'Use an https:// URL (or http:// where the operator allows it), such as https://git.example.com/team/repo.git';
  return undefined;
}

/** Parses a non-negative whole number; empty text is 0, which means the default. Returns undefined for anything else. */
export function parseWholeNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return 0;
  if (!/^\d{1,9}$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

/** JobSpec fields, as the gateway names them in INVALID_ARGUMENT messages, and the form field each belongs to. */
const serverFieldPrefixes: Array<[string, JobFormField]> = [
  ['spec.repository_url', 'repositoryUrl'],
  ['spec.ref', 'ref'],
  ['spec.command', 'command'],
  ['spec.args', 'args'],
  ['spec.env', 'env'],
  ['spec.input', 'input'],
  ['spec.timeout_seconds', 'timeoutSeconds'],
  ['spec.limits.memory_bytes', 'memoryMiB'],
];

/**
 * Returns the text of a gateway validation message as it reads under its
 * form field: without the field path, with an argument's line, a command's
 * word or a variable's name in front, and with sizes in binary units only.
 * `spec.env["1X"]: name must ...` becomes `1X: name must ...`.
 */
export function fieldErrorText(message: string): string {
  const parts = splitFieldMessage(message);
  if (!parts?.path.startsWith('spec.')) return message;
  // The gateway writes a size as bytes followed by binary units, "1048576 (1 MiB)", and the form takes MiB.
  let text = parts.text.replace(/\b\d+ \((\d+(?:\.\d+)? [KMGT]?i?B)\)/g, '$1');
  if (text.startsWith('is ')) text = `the value ${text}`;
  if (parts.key !== undefined) return `${parts.key}: ${text}`;
  if (parts.index !== undefined) return `${parts.path === 'spec.args' ? 'Line' : 'Word'} ${parts.index + 1}: ${text}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Returns the form field that a gateway validation message names, such as `spec.ref: ...`. */
export function formFieldOf(message: string): JobFormField | undefined {
  for (const [prefix, field] of serverFieldPrefixes) {
    if (message.startsWith(prefix)) {
      const next = message.charAt(prefix.length);
      if (next === ':' || next === '[' || next === '.' || next === '') return field;
    }
  }
  return undefined;
}
