/**
 * `npm start`: runs the whole mesh on this machine until Ctrl-C. Uses the
 * NATS server at NATS_URL (default nats://127.0.0.1:4222) when it answers,
 * and otherwise starts nats-server with its store under .data/.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages, testRequirements } from './system-packages.js';
import { startStack } from './stack.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

ensureSystemPackages(testRequirements, (line) => console.error(line));
const stack = await startStack({
  dataDir: process.env.FAAS_DATA_DIR ?? join(root, '.data'),
  natsUrl: process.env.NATS_URL,
  gatewayPort: Number(process.env.GATEWAY_PORT ?? 50051),
  schedulerPort: Number(process.env.SCHEDULER_PORT ?? 50052),
  observerPort: Number(process.env.OBSERVER_PORT ?? 50053),
  workers: Number(process.env.FAAS_WORKERS ?? 2),
});

console.log(`faas is running.
  gateway   ${stack.gatewayAddress}   (faas CLI default; FAAS_SERVER overrides)
  scheduler ${stack.schedulerAddress}
  observer  ${stack.observerAddress}
  nats      ${stack.natsUrl}${stack.ownsNats ? ' (started by this stack)' : ''}
  logs      ${stack.logDir}

Try:  npx faas submit https://host/team/repo.git --wait
Press Ctrl-C to stop.`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) process.exit(130);
  stopping = true;
  console.log(`\nreceived ${signal}; stopping the stack`);
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
