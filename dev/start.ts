/**
 * `npm start`: runs the whole mesh on this machine until Ctrl-C. Uses the
 * NATS server at NATS_URL (default nats://127.0.0.1:4222) when it responds,
 * and otherwise starts nats-server with its store under .data/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages, testRequirements } from './system-packages.js';
import { startStack } from './stack.js';
import { loginWithDeviceFlow } from '../cli/auth.js';
import { credentialsPath, loadCredentials } from '../cli/credentials.js';

/** The user every CLI login against the local stack signs in as. */
const devUser = 'alice';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

ensureSystemPackages(testRequirements, (line) => console.error(line));

// The edge serves the page from web/dist: build it once, on the first start.
const pageBuilt = () => existsSync(join(root, 'web', 'dist', 'index.html'));
if (!pageBuilt()) {
  console.log('Building the browser page (web/dist) with Vite...');
  const build = spawnSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) console.error('Building the page failed; the stack starts without it. Try npm run build:web.');
}

const stack = await startStack({
  dataDir: process.env.FAAS_DATA_DIR ?? join(root, '.data'),
  natsUrl: process.env.NATS_URL,
  gatewayPort: Number(process.env.GATEWAY_PORT ?? 50051),
  schedulerPort: Number(process.env.SCHEDULER_PORT ?? 50052),
  observerPort: Number(process.env.OBSERVER_PORT ?? 50053),
  edgePort: Number(process.env.EDGE_PORT ?? 8080),
  identityPort: Number(process.env.IDENTITY_PORT ?? 50080),
  autoApproveDeviceAs: devUser,
  // The observer starts and drains workers to follow the queue.
  autoscale: { minWorkers: Number(process.env.FAAS_MIN_WORKERS ?? 1), maxWorkers: Number(process.env.FAAS_MAX_WORKERS ?? 4) },
});

// The provider's sessions live in memory, so earlier local logins are void:
// log the CLI in again, unless its file contains another issuer's login.
const stored = await loadCredentials().catch(() => undefined);
let login: string;
if (stored && stored.issuer !== stack.identity.issuer) {
  login = `the CLI stays logged in to ${stored.issuer}; run "npx faas login" to use this stack`;
} else {
  await loginWithDeviceFlow({ issuer: stack.identity.issuer });
  login = `the CLI is logged in as ${devUser} (${credentialsPath()})`;
}

const pageNote = pageBuilt() ? '' : '   (not built: run npm run build:web)';
const metrics = stack
  .services()
  .map((service) => `${service.name} ${service.metricsAddress}`)
  .join(', ');

console.log(`faas is running.
  gateway   ${stack.gatewayAddress}   (faas CLI default; FAAS_SERVER overrides)
  scheduler ${stack.schedulerAddress}
  observer  ${stack.observerAddress}
  page      http://${stack.edgeAddress}/${pageNote}
  nats      ${stack.natsUrl}${stack.ownsNats ? ' (started by this stack)' : ''}
  identity  ${stack.identity.issuer} (development provider; every login signs in as ${devUser})
  logs      ${stack.logDir}
  metrics   /metrics and /healthz of ${metrics}

${login}.

Try:  npm run serve-examples    (serves examples/ as git repositories and prints faas submit commands)
      npx faas submit <repository URL> --wait
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
