/**
 * `npm run serve-examples [-- [--port N] [FOLDER...]]`: serves each folder
 * under examples/, or each FOLDER given, as a git repository over HTTP on
 * 127.0.0.1 until Ctrl-C, and prints a `faas submit` command for each, so a
 * local stack (`npm start`) has something to clone.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { startGitHttpServer } from './git-http-server.js';
import { createRepository, readFolder } from './git-repositories.js';
import { onStopSignals } from './stop-signals.js';

const usage = 'usage: npm run serve-examples -- [--port N] [FOLDER...]';
const examplesDir = join(resolve(fileURLToPath(new URL('..', import.meta.url))), 'examples');

const { values, positionals } = (() => {
  try {
    return parseArgs({ options: { port: { type: 'string' }, help: { type: 'boolean' } }, allowPositionals: true });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
})();
if (values.help) {
  console.log(`${usage}\n\nWithout FOLDER, serves every folder under examples/. A FOLDER with a .git\nfolder, or a bare repository, is served with its commits, branches and tags,\nincluding commits made while it is served, but not uncommitted changes. Any other folder is served as\none commit of its files as they are now. --port picks the port (default: a free one).`);
  process.exit(0);
}
const port = values.port === undefined ? 0 : Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`invalid --port "${values.port}": use a port number from 1 to 65535, or 0 for a free one\n${usage}`);
  process.exit(2);
}
const folders =
  positionals.length > 0
    ? positionals.map((folder) => resolve(folder))
    : (await readdir(examplesDir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => join(examplesDir, entry.name)).sort();
for (const folder of folders) {
  if (!existsSync(folder)) {
    console.error(`folder ${folder} not found\n${usage}`);
    process.exit(2);
  }
}

const root = await mkdtemp(join(tmpdir(), 'faas-examples-'));
const names: string[] = [];
try {
  for (const folder of folders) {
    const name = uniqueName(folder, names);
    names.push(name);
    if (existsSync(join(folder, '.git')) || (await isBareRepository(folder))) {
      // The repository's own git folder, through a link, so commits made while serving show up.
      // What a checkout has not committed is left out.
      const { stdout } = await promisify(execFile)('git', ['rev-parse', '--absolute-git-dir'], { cwd: folder });
      await symlink(stdout.trim(), join(root, `${name}.git`));
    } else {
      await createRepository(root, name, await readFolder(folder));
    }
  }
} catch (error) {
  await rm(root, { recursive: true, force: true });
  console.error(`serving the folders failed: ${(error as Error).message}`);
  process.exit(1);
}
const server = await startGitHttpServer(root, { port }).catch(async (error: NodeJS.ErrnoException) => {
  await rm(root, { recursive: true, force: true });
  console.error(
    error.code === 'EADDRINUSE'
      ? `port ${port} is in use: pick another with --port, or leave --port out for a free one`
      : `starting the git server failed: ${error.message}`,
  );
  process.exit(1);
});

// A stack on another gateway port (GATEWAY_PORT) needs FAAS_SERVER, unless the shell sets it already.
const gatewayPort = process.env.GATEWAY_PORT;
const faas = gatewayPort && !process.env.FAAS_SERVER ? `FAAS_SERVER=127.0.0.1:${gatewayPort} npx faas` : 'npx faas';
console.log(`Serving ${positionals.length > 0 ? 'the folders' : 'the examples'} as git repositories. With \`npm start\` running, try:\n`);
for (const name of names) console.log(`  ${faas} submit ${server.repositoryUrl(name)} --wait`);
if (positionals.length === 0 && names.includes('c')) console.log(`\n  echo '{"n": 50}' | ${faas} submit ${server.repositoryUrl('c')} --input - --wait`);
console.log('\nPress Ctrl-C to stop.');

onStopSignals(
  () => {
    void (async () => {
      await server.stop();
      await rm(root, { recursive: true, force: true });
      console.log('Stopped serving the repositories.');
      process.exit(0);
    })();
  },
  () => process.exit(130),
);

/** Tells whether `folder` is a bare git repository, which has HEAD, objects and refs at its top. */
async function isBareRepository(folder: string): Promise<boolean> {
  if (!['HEAD', 'objects', 'refs'].every((entry) => existsSync(join(folder, entry)))) return false;
  try {
    const { stdout } = await promisify(execFile)('git', ['rev-parse', '--is-bare-repository'], { cwd: folder });
    return stdout.trim() === 'true';
  } catch {
    return false;
  }
}

/** Names the repository of `folder` after it, with a number added when an earlier folder took the name. */
function uniqueName(folder: string, usedNames: string[]): string {
  const base = basename(folder).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/\.git$/, '') || 'repository';
  let name = base;
  for (let index = 2; usedNames.includes(name); index++) name = `${base}-${index}`;
  return name;
}
