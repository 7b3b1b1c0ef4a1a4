import type { FaasClient } from '../../client/client.js';
import type { CliIo } from '../io.js';

/** Dependencies of every command: the connected client, the I/O and the run's abort signal. */
export interface CommandContext {
  client: FaasClient;
  io: CliIo;
  signal: AbortSignal;
}

/** Dependencies of the commands that never call the gateway: login, logout and whoami. */
export interface AccountCommandContext {
  io: CliIo;
  signal: AbortSignal;
}
