import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { maxSandboxUid } from './users.js';

/** Uids in one worker's block: the maximum of WORKER_SLOTS. */
export const uidsPerBlock = 64;

/** Exit code of the lock holder when another process holds the lock. */
const lockTakenCode = 75;

/** Uids that one worker process gives its slots, and how to give them back. */
export interface UidBlock {
  /** Uid of slot 0. Slot N runs as `base + N`. */
  base: number;
  release(): void;
}

/**
 * Claims the first block of sandbox uids that no other worker on this host
 * holds, so that jobs of different workers never run as the same uid.
 * Block N starts at `base + N * 64`. A claim is an exclusive lock
 * (flock) on `<lockDir>/uids-<base>-<N>`, held by a `sleep` process that
 * the kernel kills when the worker exits, however it exits. The kernel then
 * drops the lock, so no lock outlives its worker, and workers in separate
 * containers that share `lockDir` see each other's locks.
 */
export async function claimUidBlock(lockDir: string, base: number, slots: number): Promise<UidBlock> {
  await mkdir(lockDir, { recursive: true, mode: 0o700 });
  for (let block = 0; base + block * uidsPerBlock + slots - 1 <= maxSandboxUid; block++) {
    const holder = await holdLock(join(lockDir, `uids-${base}-${block}`));
    if (holder) return { base: base + block * uidsPerBlock, release: holder };
  }
  throw new Error(
    `every block of sandbox uids from ${base} to ${maxSandboxUid} is held by another worker on this host (locks in ${lockDir}); stop one, or set FAAS_SANDBOX_UID_BASE lower`,
  );
}

/** Starts a process that holds an exclusive lock on `path`. Returns its release, or undefined when another process holds the lock. */
function holdLock(path: string): Promise<(() => void) | undefined> {
  // The shell opens the file, locks it without waiting, reports, and becomes
  // `sleep`, which keeps the locked descriptor. setpriv makes the kernel
  // kill it when the worker exits.
  const script = `exec 9>>"$1" && flock --exclusive --nonblock 9 || exit ${lockTakenCode}; echo locked; exec sleep infinity`;
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', '/bin/sh', '-c', script, 'sh', path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', () => {
      lines.close();
      // The holder must not keep the worker's event loop alive.
      child.unref();
      (child.stdout as { unref?: () => void }).unref?.();
      (child.stderr as { unref?: () => void }).unref?.();
      resolve(() => child.kill('SIGKILL'));
    });
    child.once('error', (error) => reject(new Error(`could not start the lock holder for ${path}: ${error.message}`, { cause: error })));
    child.once('exit', (code) => {
      lines.close();
      if (code === lockTakenCode) resolve(undefined);
      else reject(new Error(`locking ${path} failed (exit code ${code}): ${stderr.trim() || 'no output'}`));
    });
  });
}
