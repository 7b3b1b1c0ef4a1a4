/**
 * `npm start`: runs the whole mesh on this machine until Ctrl-C. Uses the
 * NATS server at NATS_URL (default nats://127.0.0.1:4222) when it responds,
 * and otherwise starts nats-server with its store under .data/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireSystemPackages, stackRequirements } from './system-packages.js';
import { ConfigError, readInt } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import { defaultDevUsers } from './identity-provider.js';
import { startStack } from './stack.js';
import { superviseStack } from './supervisor.js';
import { onStopSignals } from './stop-signals.js';
import { defaultIssuer, loginWithDeviceFlow } from '../cli/auth.js';
import { credentialsPath, loadCredentials } from '../cli/credentials.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Stops with a message naming the variable, as the services do for a bad setting. */
function fail(message: string): never {
  console.error(`faas start: ${message}`);
  process.exit(2);
}

/** Reads an integer setting with the services' reader, stopping with its message when the value is invalid. */
function readSetting(name: string, fallback: number, min: number, max: number): number {
  try {
    return readInt(process.env, name, fallback, min, max);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

/** The user every CLI login against the local stack signs in as: FAAS_DEV_USER, default alice. */
const devUser = process.env.FAAS_DEV_USER || 'alice';
if (!defaultDevUsers.some((user) => user.username === devUser)) {
  fail(`FAAS_DEV_USER=${devUser} is invalid: expected one of ${defaultDevUsers.map((user) => user.username).join(', ')}`);
}
const minWorkers = readSetting('FAAS_MIN_WORKERS', 1, 0, 64);
const maxWorkers = readSetting('FAAS_MAX_WORKERS', 4, 0, 64);
if (maxWorkers < Math.max(1, minWorkers)) fail(`FAAS_MAX_WORKERS=${maxWorkers} is invalid: expected at least 1 and at least FAAS_MIN_WORKERS (${minWorkers})`);
const ports = {
  gatewayPort: readSetting('GATEWAY_PORT', 50051, 1, 65_535),
  schedulerPort: readSetting('SCHEDULER_PORT', 50052, 1, 65_535),
  observerPort: readSetting('OBSERVER_PORT', 50053, 1, 65_535),
  edgePort: readSetting('EDGE_PORT', 8080, 1, 65_535),
  identityPort: readSetting('IDENTITY_PORT', 50080, 1, 65_535),
};

requireSystemPackages(stackRequirements, (line) => console.error(line));

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
  // A shared server mixes this stack's jobs with other users'; FAAS_PRIVATE_NATS=true starts one of its own.
  privateNats: ['1', 'true', 'yes', 'on'].includes((process.env.FAAS_PRIVATE_NATS ?? '').toLowerCase()),
  ...ports,
  autoApproveDeviceAs: devUser,
  // The observer starts and drains workers to follow the queue.
  autoscale: { minWorkers, maxWorkers },
}).catch((error: unknown) => fail(`the stack did not start: ${errorMessage(error)}`));

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

const gatewayNote =
  stack.gatewayAddress === '127.0.0.1:50051'
    ? '(faas CLI default; FAAS_SERVER overrides)'
    : `(not the CLI default: export FAAS_SERVER=${stack.gatewayAddress})`;

const issuerNote =
  stack.identity.issuer === defaultIssuer
    ? '(faas login default; FAAS_ISSUER overrides)'
    : `(not the faas login default: export FAAS_ISSUER=${stack.identity.issuer})`;

console.log(`faas is running.
  gateway   ${stack.gatewayAddress}   ${gatewayNote}
  scheduler ${stack.schedulerAddress}
  observer  ${stack.observerAddress}
  page      http://${stack.edgeAddress}/${pageNote}
  nats      ${stack.natsUrl}${stack.ownsNats ? ' (started by this stack)' : ' (a server that was already running, shared with its other users; FAAS_PRIVATE_NATS=true starts a private one)'}
  identity  ${stack.identity.issuer} (development provider; every login signs in as ${devUser})
            ${issuerNote}
  logs      ${stack.logDir}, workers under ${join(stack.logDir, '..', 'observer')}
  metrics   /metrics and /healthz of ${metrics}; each worker logs its own

${login}.

Try:  npm run serve-examples    (serves examples/ as git repositories and prints faas submit commands)
      npx faas submit <repository URL> --wait
Press Ctrl-C to stop.`);

// A service or the stack's nats-server that exits on its own starts again, as under compose.
const supervision = new AbortController();
superviseStack(stack, supervision.signal, (line) => console.error(line));

onStopSignals(
  (signal) => {
    supervision.abort();
    console.log(`\nreceived ${signal}; stopping the stack; running jobs go back to the queue, which can take some seconds (a second ${signal} stops at once)`);
    void stack.stop().then(() => {
      console.log('stopped');
      process.exit(0);
    });
  },
  () => process.exit(130),
);
