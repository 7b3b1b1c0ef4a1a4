/**
 * `npm run serve-examples`: serves each folder under examples/ as a git
 * repository over HTTP on 127.0.0.1 until Ctrl-C, and prints a `faas submit`
 * command for each, so a local stack (`npm start`) has something to clone.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGitHttpServer } from './git-http-server.js';
import { createRepository, readFolder } from './git-repositories.js';

const examplesDir = join(resolve(fileURLToPath(new URL('..', import.meta.url))), 'examples');
const root = await mkdtemp(join(tmpdir(), 'faas-examples-'));
const names = (await readdir(examplesDir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
for (const name of names.sort()) await createRepository(root, name, await readFolder(join(examplesDir, name)));
const server = await startGitHttpServer(root);

console.log('Serving the examples as git repositories. With `npm start` running, try:\n');
for (const name of names) console.log(`  npx faas submit ${server.repositoryUrl(name)} --wait`);
console.log(`\n  echo '{"n": 50}' | npx faas submit ${server.repositoryUrl('c')} --input - --wait\n\nPress Ctrl-C to stop.`);

const stop = async () => {
  await server.stop();
  await rm(root, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
