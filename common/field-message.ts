/** A validation message split at its field path, as `invalidArgument` writes it: `spec.env["X"]: name must ...`. */
export interface FieldMessage {
  /** Field path without the entry, such as `spec.env`. */
  path: string;
  /** Key of a map entry, such as `X` in `spec.env["X"]`. */
  key?: string;
  /** Position of a list entry from 0, such as 2 in `spec.args[2]`. */
  index?: number;
  /** Rest of the message after the path and its colon. */
  text: string;
}

/** Splits a validation message at its field path, or returns undefined when it does not start with one. */
export function splitFieldMessage(message: string): FieldMessage | undefined {
  const match = /^([a-z_.]+)(?:\[(\d+|"(?:[^"\\]|\\.)*")\])?: /.exec(message);
  if (match === null) return undefined;
  const [prefix, path, entry] = match;
  const text = message.slice(prefix.length);
  if (entry === undefined) return { path, text };
  if (entry.startsWith('"')) return { path, key: JSON.parse(entry) as string, text };
  return { path, index: Number(entry), text };
}
