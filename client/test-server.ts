import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { JobServiceService, type JobServiceServer } from '../gen/faas/v1/job_service.js';

/** A JobService on a loopback port with canned handlers, for tests. */
export interface TestServer {
  /** host:port to pass to FaasClient or `faas --server`. */
  address: string;
  /** Stops the server and ends calls still open. */
  close(): void;
}

/**
 * Starts a gRPC server on 127.0.0.1 at a free port. Methods without a
 * handler return UNIMPLEMENTED.
 */
export async function startTestServer(handlers: Partial<JobServiceServer>): Promise<TestServer> {
  const server = new Server();
  server.addService(JobServiceService, handlers as UntypedServiceImplementation);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error) reject(error);
      else resolve(boundPort);
    });
  });

  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}
