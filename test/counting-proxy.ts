import { createServer, request as httpRequest, type Server } from 'node:http';

/** HTTP proxy in front of the git server that records each request, so a test can tell whether the cache used the network. */
export class CountingProxy {
  readonly requests: string[] = [];
  private server!: Server;
  url = '';

  async start(target: string): Promise<void> {
    this.server = createServer((incoming, outgoing) => {
      this.requests.push(`${incoming.method} ${incoming.url}`);
      const forward = httpRequest(`${target}${incoming.url}`, { method: incoming.method, headers: incoming.headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      forward.on('error', () => outgoing.destroy());
      incoming.pipe(forward);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Returns how many ref advertisements were asked for with GET: each git ls-remote or fetch starts with one. */
  connections(): number {
    return this.requests.filter((line) => line.startsWith('GET ') && line.includes('/info/refs')).length;
  }

  reset(): void {
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
