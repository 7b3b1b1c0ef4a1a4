/** Plain words for the system error codes that the CLI reports, where Node's messages repeat a path or an address. */
const systemErrors: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
};

/** Returns the plain words for a system error code such as ENOENT, or undefined for a code without them. */
export function describeSystemError(code: string | undefined): string | undefined {
  return code === undefined ? undefined : systemErrors[code];
}
