import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Binds an HTTP server to host:port (port 0 picks a free one; an IPv6 host
 * may be bracketed) and returns the bound host:port. `setting` names the
 * variable that sets the address, for the error when the port is in use.
 */
export function listenHttp(server: Server, address: string, setting?: string): Promise<string> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(separator + 1));
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? portInUse(address, setting, error) : error);
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      const bound = server.address() as AddressInfo;
      resolve(bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`);
    });
  });
}

/** Returns the error for an address whose port another process holds, naming the setting that picks it. */
export function portInUse(address: string, setting: string | undefined, cause: unknown): Error {
  const fix = setting === undefined ? 'stop what uses it or choose another port' : `stop what uses it, or set ${setting} to another address`;
  return new Error(`cannot listen on ${address}${setting === undefined ? '' : ` (${setting})`}: the port is in use; ${fix}`, { cause });
}
