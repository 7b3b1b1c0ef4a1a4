import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, credentials, Metadata, type ServiceDefinition } from '@grpc/grpc-js';
import { startProcess, type BenchProcess } from './processes.js';

const hopEntry = fileURLToPath(new URL('./grpc-hop.ts', import.meta.url));
const startTimeoutMs = 30_000;
const callDeadlineMs = 30_000;

const identity = (bytes: Buffer) => bytes;

/** A unary method that takes and returns raw bytes, so no encoding counts. */
export const echoService: ServiceDefinition = {
  echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** Plain grpc-js client of `echoService`, with one channel and no TLS. */
export class EchoClient {
  private readonly client: Client;

  constructor(address: string) {
    this.client = new Client(address, credentials.createInsecure());
  }

  call(request: Buffer, metadata: Metadata): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<Buffer, Buffer>(
        echoService.echo.path,
        identity,
        identity,
        request,
        metadata,
        { deadline: Date.now() + callDeadlineMs },
        (error, response) => (error ? reject(error) : resolve(response!)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/**
 * The floor of a Submit's path: a call from this process to a relay process,
 * which makes the same call to a server process, like client, gateway and
 * scheduler. Each process is plain grpc-js and does nothing else, so the
 * rate measures what two hops cost on this machine before any work.
 */
export class BareGrpcHops {
  private constructor(
    private readonly server: BenchProcess,
    private readonly relay: BenchProcess,
    private readonly client: EchoClient,
  ) {}

  static async start(logDir: string): Promise<BareGrpcHops> {
    const server = await startHop('bare-grpc-server', logDir, undefined);
    try {
      const relay = await startHop('bare-grpc-relay', logDir, `127.0.0.1:${server.port}`);
      return new BareGrpcHops(server.process, relay.process, new EchoClient(`127.0.0.1:${relay.port}`));
    } catch (error) {
      await server.process.stop();
      throw error;
    }
  }

  call(payload: Buffer): Promise<Buffer> {
    return this.client.call(payload, new Metadata());
  }

  async stop(): Promise<void> {
    this.client.close();
    await Promise.all([this.relay.stop(), this.server.stop()]);
  }
}

async function startHop(name: string, logDir: string, upstream: string | undefined): Promise<{ process: BenchProcess; port: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_HOP_UPSTREAM: upstream ?? '' };
  // A profiled run profiles the services only.
  delete env.FAAS_BENCH_CPU_PROFILE_DIR;
  const hop = startProcess(name, process.execPath, ['--import', 'tsx', hopEntry], { env, logFile: join(logDir, `${name}.log`) });
  try {
    const line = await hop.waitForOutput('listening ', startTimeoutMs);
    return { process: hop, port: Number(/listening (\d+)/.exec(line)![1]) };
  } catch (error) {
    await hop.stop();
    throw error;
  }
}
