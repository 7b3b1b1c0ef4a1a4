import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';

/** Contents of a file: text, which is stored as UTF-8, or bytes. */
export type FileContent = string | Uint8Array;

/** File contents by repository path ("src/main.py"). `mode` 0o755 (any execute bit) makes the file executable. */
export interface RepositoryFiles {
  [path: string]: FileContent | { content: FileContent; mode?: number };
}

export interface CreatedRepository {
  name: string;
  /** Folder of the bare repository. */
  path: string;
  /** Commit at the tip of `branch`. */
  commitSha: string;
  branch: string;
}

export interface CreateRepositoryOptions {
  /** Branch of the first commit, which HEAD points at. Default "main". */
  branch?: string;
  /** Lightweight tags that point at the commit of `branch`. */
  tags?: string[];
  /** Other branches by name, each with one commit of its own files on top of the `branch` commit. */
  extraBranches?: Record<string, RepositoryFiles>;
}

// A fixed identity and date make the commits independent of the user's git
// config, and give the same commit SHA for the same files on every run.
const gitEnvironment: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'faas',
  GIT_AUTHOR_EMAIL: 'faas@localhost',
  GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_NAME: 'faas',
  GIT_COMMITTER_EMAIL: 'faas@localhost',
  GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
  EMAIL: 'faas@localhost',
};

const repositoryNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/**
 * Creates the bare repository `${root}/${name}.git` with one commit of `files`
 * on `branch`, plus the given tags and extra branches. Rejects when the
 * repository folder already exists.
 */
export async function createRepository(
  root: string,
  name: string,
  files: RepositoryFiles,
  options: CreateRepositoryOptions = {},
): Promise<CreatedRepository> {
  if (!repositoryNamePattern.test(name) || name.split('/').some((part) => part.endsWith('.git'))) {
    throw new Error(`Invalid repository name ${JSON.stringify(name)}: use letters, digits, ".", "_", "-" and "/"`);
  }
  const branch = options.branch ?? 'main';
  const path = join(root, `${name}.git`);
  if (await pathExists(path)) {
    throw new Error(`Repository ${path} already exists`);
  }

  await mkdir(path, { recursive: true });
  try {
    const commitSha = await populateRepository(path, branch, files, options);
    return { name, path, commitSha, branch };
  } catch (error) {
    // A half-built repository would make the next attempt fail with "already exists".
    await rm(path, { recursive: true, force: true });
    throw error;
  }
}

/** Initializes the bare repository at `path` and writes its commits, branches and tags. Returns the `branch` commit. */
async function populateRepository(
  path: string,
  branch: string,
  files: RepositoryFiles,
  options: CreateRepositoryOptions,
): Promise<string> {
  await runGit(['init', '--quiet', '--bare', `--initial-branch=${branch}`, path]);
  await runGit(['config', 'uploadpack.allowAnySHA1InWant', 'true'], { gitDir: path });

  const commitSha = await commitFiles(path, files, []);
  await runGit(['update-ref', `refs/heads/${branch}`, commitSha], { gitDir: path });

  for (const [extraBranch, extraFiles] of Object.entries(options.extraBranches ?? {})) {
    const extraSha = await commitFiles(path, extraFiles, [commitSha]);
    await runGit(['branch', extraBranch, extraSha], { gitDir: path });
  }
  for (const tag of options.tags ?? []) {
    await runGit(['tag', tag, commitSha], { gitDir: path });
  }
  return commitSha;
}

/**
 * Builds a commit of `files` in the bare repository with plumbing commands,
 * through a temporary index file so no work tree is needed. Returns its SHA.
 */
async function commitFiles(gitDir: string, files: RepositoryFiles, parents: string[]): Promise<string> {
  const indexFolder = await mkdtemp(join(tmpdir(), 'faas-git-index-'));
  const environment = { GIT_INDEX_FILE: join(indexFolder, 'index') };
  try {
    const indexLines: string[] = [];
    for (const [filePath, file] of Object.entries(files)) {
      validateFilePath(filePath);
      const plain = typeof file === 'string' || file instanceof Uint8Array;
      const content = plain ? file : file.content;
      const mode = plain ? undefined : file.mode;
      const gitMode = mode !== undefined && (mode & 0o111) !== 0 ? '100755' : '100644';
      const blobSha = await runGit(['hash-object', '-w', '--stdin'], { gitDir, input: content });
      indexLines.push(`${gitMode} ${blobSha}\t${filePath}`);
    }

    await runGit(['update-index', '--add', '--index-info'], {
      gitDir,
      input: indexLines.map((line) => `${line}\n`).join(''),
      environment,
    });
    const treeSha = await runGit(['write-tree'], { gitDir, environment });
    const parentArgs = parents.flatMap((parent) => ['-p', parent]);
    return await runGit(['commit-tree', treeSha, ...parentArgs, '-m', 'Add function files'], { gitDir });
  } finally {
    await rm(indexFolder, { recursive: true, force: true });
  }
}

function validateFilePath(filePath: string): void {
  const parts = filePath.split('/');
  const invalid =
    filePath === '' ||
    filePath.includes('\n') ||
    filePath.includes('\t') ||
    parts.some((part) => part === '' || part === '.' || part === '..' || part.toLowerCase() === '.git');
  if (invalid) {
    throw new Error(`Invalid file path ${JSON.stringify(filePath)}: use a relative path like "src/main.py"`);
  }
}

/**
 * Reads every regular file under `folder`, byte for byte. Files with an
 * execute bit come back with mode 0o755. Skips `.git` folders and rejects
 * symbolic links.
 */
export async function readFolder(folder: string): Promise<RepositoryFiles> {
  const files: RepositoryFiles = {};
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });

  for (const entry of entries) {
    const absolutePath = join(entry.parentPath, entry.name);
    const repositoryPath = relative(folder, absolutePath).split(sep).join('/');
    if (repositoryPath.split('/').includes('.git')) {
      continue;
    }
    if (entry.isSymbolicLink()) {
      throw new Error(`Symbolic link ${absolutePath} is not supported: replace it with a regular file`);
    }
    if (!entry.isFile()) {
      continue;
    }

    const content = await readFile(absolutePath);
    const { mode } = await lstat(absolutePath);
    files[repositoryPath] = (mode & 0o111) !== 0 ? { content, mode: 0o755 } : content;
  }
  return files;
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

interface RunGitOptions {
  gitDir?: string;
  input?: FileContent;
  environment?: NodeJS.ProcessEnv;
}

/** Runs git without a shell and returns its trimmed stdout. Rejects with stderr on a non-zero exit. */
function runGit(args: string[], options: RunGitOptions = {}): Promise<string> {
  const fullArgs = options.gitDir === undefined ? args : [`--git-dir=${options.gitDir}`, ...args];

  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      fullArgs,
      { env: { ...gitEnvironment, ...options.environment }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve(stdout.trim());
          return;
        }
        const reason = stderr.trim() || error.message;
        reject(new Error(`git ${fullArgs.join(' ')} failed: ${reason}`));
      },
    );
    // A git command that exits without reading stdin causes EPIPE here. Its exit status reports the failure.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input);
  });
}
