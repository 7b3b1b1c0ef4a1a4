/**
 * `npm run demo`: the platform's main job on real input. Starts a private
 * local stack, serves the sample repositories under examples/ over HTTP on
 * loopback, submits one job per runtime, streams their output live, prints
 * their results and stops everything it started.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FaasClient } from '../client/client.js';
import { JobState, LogStream } from '../gen/faas/v1/job.js';
import { stateName } from '../common/job-states.js';
import { startGitHttpServer } from './git-http-server.js';
import { defaultDevServiceAccounts } from './identity-provider.js';
import { createRepository, readFolder } from './git-repositories.js';
import { requireSystemPackages, stackRequirements } from './system-packages.js';
import { startStack } from './stack.js';
import { errorMessage } from '../common/errors.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const examplesDir = join(root, 'examples');
/** Input each sample gets on stdin, the usual FaaS event payload. */
const demoInput = JSON.stringify({
  n: 30,
  name: 'Ada',
  text: 'to be or not to be, that is the question',
  numbers: [2, 4, 4, 4, 5, 5, 7, 9],
});

requireSystemPackages(stackRequirements, (line) => console.error(line));
const dataDir = await mkdtemp(join(tmpdir(), 'faas-demo-'));
console.log('Starting the local stack (NATS, identity provider, scheduler, 2 workers, observer, gateway, edge)...');
const stack = await startStack({ dataDir, privateNats: true, workers: 2 }).catch((error: unknown) => {
  console.error(`demo failed: the local stack did not start: ${errorMessage(error)}; service logs are in ${join(dataDir, 'logs')}`);
  process.exit(1);
});
const git = await startGitHttpServer(join(dataDir, 'repos'));
// The demo acts as the service account of the development provider.
const account = defaultDevServiceAccounts[0];
const client = new FaasClient({
  address: stack.gatewayAddress,
  token: await stack.identity.serviceToken(account.clientId, account.secret),
});
let failures = 0;

try {
  const examples = (await readdir(examplesDir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  const jobs: Array<{ name: string; id: string }> = [];
  for (const name of examples.sort()) {
    await createRepository(join(dataDir, 'repos'), name, await readFolder(join(examplesDir, name)));
    const { job } = await client.submit({ repositoryUrl: git.repositoryUrl(name), input: Buffer.from(demoInput) });
    console.log(`submitted ${name.padEnd(7)} as job ${job!.id}`);
    jobs.push({ name, id: job!.id });
  }
  console.log(`\nInput on stdin: ${demoInput}\n`);

  // Follow every job's output at once; each line is prefixed with its sample.
  await Promise.all(
    jobs.map(async ({ name, id }) => {
      let pending = { [LogStream.LOG_STREAM_STDOUT]: '', [LogStream.LOG_STREAM_STDERR]: '' } as Record<number, string>;
      for await (const chunk of client.logs(id, { follow: true })) {
        const text = pending[chunk.stream] + chunk.data.toString();
        const lines = text.split('\n');
        pending = { ...pending, [chunk.stream]: lines.pop() ?? '' };
        const tag = chunk.stream === LogStream.LOG_STREAM_STDERR ? 'err' : 'out';
        for (const line of lines) console.log(`[${name.padEnd(6)} ${tag}] ${line}`);
      }
    }),
  );

  console.log('\nResults:');
  for (const { name, id } of jobs) {
    const { job, result } = await client.result(id);
    const ok = job!.state === JobState.JOB_STATE_SUCCEEDED;
    if (!ok) failures++;
    console.log(
      `  ${name.padEnd(7)} ${stateName(job!.state).padEnd(9)} exit ${String(result!.exitCode ?? '-').padEnd(3)} ` +
        `${String(result!.durationMs).padStart(5)} ms (clone ${result!.cloneMs}, build ${result!.buildMs}, run ${result!.runMs})` +
        `  commit ${job!.commitSha.slice(0, 12)}${ok ? '' : `  ${job!.error?.message}`}`,
    );
  }
} catch (error) {
  failures++;
  console.error(`demo failed: ${errorMessage(error)}; service logs are in ${stack.logDir}`);
} finally {
  client.close();
  await git.stop();
  await stack.stop();
  if (failures === 0) await rm(dataDir, { recursive: true, force: true });
}
console.log(failures === 0 ? '\nAll sample jobs succeeded; the stack is stopped.' : `\n${failures} sample job(s) failed.`);
process.exit(failures === 0 ? 0 : 1);
