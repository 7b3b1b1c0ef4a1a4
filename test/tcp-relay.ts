import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * Relays TCP connections from a loopback port to `target` byte for byte, so
 * TLS passes through, and can break every relayed connection at once, as a
 * network fault between two services would.
 */
export class TcpRelay {
  private server!: Server;
  private readonly sockets = new Set<Socket>();
  /** Relayed connections as pairs: the accepted socket and the one to `target`. */
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private rejecting = false;
  address = '';
  /** Connections relayed since the start. */
  connectionsAccepted = 0;

  static async start(target: string): Promise<TcpRelay> {
    const relay = new TcpRelay();
    const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
    relay.server = createServer((client) => {
      if (relay.rejecting) {
        client.resetAndDestroy();
        return;
      }
      const upstream = createConnection({ host, port });
      for (const socket of [client, upstream]) {
        relay.sockets.add(socket);
        socket.on('close', () => relay.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      relay.connectionsAccepted++;
      const pair = { client, upstream };
      relay.pairs.add(pair);
      client.pipe(upstream).pipe(client);
      client.on('close', () => {
        if (relay.pairs.delete(pair)) upstream.destroy();
      });
      upstream.on('close', () => {
        if (relay.pairs.delete(pair)) client.destroy();
      });
    });
    await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    relay.address = `127.0.0.1:${(relay.server.address() as { port: number }).port}`;
    return relay;
  }

  /** Resets every relayed connection; new ones are still relayed. */
  breakConnections(): void {
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  /**
   * Resets the connecting side of every relayed connection and leaves the
   * side to `target` open but silent, as when a fault near the client cuts
   * its connection and the server learns of it only from missed heartbeats.
   */
  breakClientSide(): void {
    for (const pair of this.pairs) {
      this.pairs.delete(pair);
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.client.resetAndDestroy();
    }
  }

  /**
   * Stops relaying bytes on every relayed connection and leaves both sides
   * open, as a network partition would: neither side learns of it but by a
   * timeout. New connections are still relayed.
   */
  freezeConnections(): void {
    for (const pair of this.pairs) {
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.client.pause();
      pair.upstream.pause();
    }
  }

  /** Resets new connections until `acceptConnections` is called, as an unreachable peer would. */
  rejectConnections(): void {
    this.rejecting = true;
  }

  acceptConnections(): void {
    this.rejecting = false;
  }

  async stop(): Promise<void> {
    this.breakConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
