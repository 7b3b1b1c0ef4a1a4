import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Binds an HTTP server to host:port (port 0 picks a free one; an IPv6 host
 * may be bracketed) and returns the bound host:port.
 */
export function listenHttp(server: Server, address: string): Promise<string> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(separator + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const bound = server.address() as AddressInfo;
      resolve(bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`);
    });
  });
}
