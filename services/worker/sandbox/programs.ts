import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { access, chmod, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { launcherSource } from '../launcher/program.js';
import { enterSource } from './enter.js';
import { initSource } from './init.js';

/** The sandbox's own programs, compiled when the worker starts. */
export interface SandboxPrograms {
  /** Starts bubblewrap confined: in the job's cgroups, with its rlimits, as the slot's user (see enter.ts). */
  enter: string;
  /** The sandbox's first process, which reports a signal apart from an exit code (see init.ts). */
  init: string;
  /** Starts the jobs' programs, sandboxed or not, for less CPU than the worker's own fork (see launcher/program.ts). */
  launch: string;
}

/**
 * Compiles the sandbox's programs with `gcc` into `folder`, each once per
 * version of its source, and returns their paths. The files are owned by
 * the worker (root), and others may only read and run them.
 */
export async function buildSandboxPrograms(folder: string, gcc: string): Promise<SandboxPrograms> {
  await mkdir(folder, { recursive: true, mode: 0o755 });
  await chmod(folder, 0o755);
  const [enter, init, launch] = await Promise.all([
    buildProgram(folder, gcc, 'faas-enter', enterSource),
    buildProgram(folder, gcc, 'faas-init', initSource),
    buildProgram(folder, gcc, 'faas-launch', launcherSource),
  ]);
  return { enter, init, launch };
}

async function buildProgram(folder: string, gcc: string, name: string, source: string): Promise<string> {
  const version = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const path = join(folder, `${name}-${version}`);
  try {
    await access(path);
    return path;
  } catch {
    // Not built yet.
  }
  const staging = `${path}.${process.pid}.tmp`;
  try {
    await compile(gcc, name, source, staging);
    await chmod(staging, 0o755);
    await rename(staging, path);
  } catch (error) {
    await rm(staging, { force: true });
    throw error;
  }
  return path;
}

function compile(gcc: string, name: string, source: string, output: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Static, so that it starts without the dynamic loader.
    const child = execFile(gcc, ['-O2', '-static', '-x', 'c', '-o', output, '-'], (error, _stdout, stderr) => {
      if (error) reject(new Error(`compiling ${name} with ${gcc} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
    child.stdin!.end(source);
  });
}
