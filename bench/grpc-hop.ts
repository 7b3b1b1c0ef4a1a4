/**
 * One process of the bare gRPC floor of benchmark 1: with BENCH_HOP_UPSTREAM
 * unset, a server whose one unary method returns the request's bytes; with
 * BENCH_HOP_UPSTREAM=host:port, a relay that makes the same call there for
 * each call it receives and returns the response, as the gateway does with
 * Submit. Plain grpc-js with no TLS, interceptors, telemetry or work of its
 * own. `bench/bare-grpc-hops.ts` starts and stops it, and it prints
 * "listening PORT" once it accepts calls.
 */
import { Metadata, Server, ServerCredentials } from '@grpc/grpc-js';
import { EchoClient, echoService } from './bare-grpc-hops.js';

const upstreamAddress = process.env.BENCH_HOP_UPSTREAM;
const upstream = upstreamAddress ? new EchoClient(upstreamAddress) : undefined;

const server = new Server();
server.addService(echoService, {
  echo: (call: { request: Buffer }, callback: (error: Error | null, response?: Buffer) => void) => {
    if (!upstream) callback(null, call.request);
    else upstream.call(call.request, new Metadata()).then((response) => callback(null, response), (error: Error) => callback(error));
  },
});
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(`listening ${port}`);
});

const stop = () => {
  upstream?.close();
  server.forceShutdown();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
