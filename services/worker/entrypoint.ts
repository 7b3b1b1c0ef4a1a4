import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** A program to run, with an optional build step before it. */
export interface LaunchPlan {
  /** Name of the convention file that was found, or "command". */
  source: string;
  build?: { file: string; args: string[] };
  run: { file: string; args: string[] };
}

/** Absolute paths of the interpreters and compilers the conventions use. */
export interface Toolchain {
  python3?: string;
  bash?: string;
  gcc?: string;
  gxx?: string;
  node?: string;
}

/** Convention entrypoints, in the order they are looked for. */
export const conventionFiles = ['main.py', 'main.sh', 'main.c', 'main.cpp', 'main.js'] as const;

/** System folders come first, so a job gets the distribution's tools rather than a user's shims. */
const systemPath = ['/usr/local/bin', '/usr/bin', '/bin'];

export async function findToolchain(path: string = process.env.PATH ?? ''): Promise<Toolchain> {
  const folders = [...systemPath, ...path.split(delimiter).filter(Boolean)];
  return {
    python3: await findExecutable('python3', folders),
    bash: await findExecutable('bash', folders),
    gcc: await findExecutable('gcc', folders),
    gxx: await findExecutable('g++', folders),
    node: process.execPath,
  };
}

async function findExecutable(name: string, folders: string[]): Promise<string | undefined> {
  for (const folder of folders) {
    const candidate = join(folder, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

export class NoEntrypointError extends Error {
  override readonly name = 'NoEntrypointError';
}

/**
 * Chooses what to run in a checked-out repository: the job's command when
 * it has one, otherwise the first convention file present. A compiled
 * entrypoint is built into `binaryPath`.
 */
export async function planLaunch(
  repoDir: string,
  command: string[],
  args: string[],
  toolchain: Toolchain,
  binaryPath: string,
): Promise<LaunchPlan> {
  if (command.length > 0) {
    return { source: 'command', run: { file: command[0], args: [...command.slice(1), ...args] } };
  }
  for (const name of conventionFiles) {
    if (!(await exists(join(repoDir, name)))) continue;
    const tool = (key: keyof Toolchain, program: string) => {
      const file = toolchain[key];
      if (!file) throw new NoEntrypointError(`found ${name}, but ${program} is not installed on this worker`);
      return file;
    };
    switch (name) {
      case 'main.py':
        // Unbuffered, so that the job's output reaches its logs as it prints, and stdout and stderr in order.
        return { source: name, run: { file: tool('python3', 'python3'), args: ['-u', name, ...args] } };
      case 'main.sh':
        return { source: name, run: { file: tool('bash', 'bash'), args: [name, ...args] } };
      case 'main.c':
        return {
          source: name,
          build: { file: tool('gcc', 'gcc'), args: ['-O2', '-o', binaryPath, name, '-lm'] },
          run: { file: binaryPath, args },
        };
      case 'main.cpp':
        return {
          source: name,
          build: { file: tool('gxx', 'g++'), args: ['-O2', '-o', binaryPath, name] },
          run: { file: binaryPath, args },
        };
      case 'main.js':
        return { source: name, run: { file: tool('node', 'node'), args: [name, ...args] } };
    }
  }
  throw new NoEntrypointError(
    `no command was given and the repository has none of ${conventionFiles.join(', ')} at its root; add one or pass a command`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
