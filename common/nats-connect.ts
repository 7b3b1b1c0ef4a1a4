import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { errorMessage } from './errors.js';

/**
 * Connects to NATS at `options.servers`, the value of NATS_URL. A failure
 * names the setting and the fix; nats.js reports only the socket's error,
 * such as a refused connection.
 */
export async function connectNats(options: ConnectionOptions & { servers: string }): Promise<NatsConnection> {
  try {
    return await connect(options);
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${options.servers} (NATS_URL): ${errorMessage(error)}; start nats-server there, or set NATS_URL to its address`, {
      cause: error,
    });
  }
}
