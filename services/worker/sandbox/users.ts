import { chmodSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { chownTree } from '../file-tree.js';
import type { IdentityFiles } from './command.js';
import { sandboxJobDir } from './command.js';

/** Host uid and gid of the jobs that run in one worker slot. */
export interface SandboxUser {
  uid: number;
  gid: number;
}

/** Highest uid a slot may get: 65534 is `nobody`, and uids above 65535 are not in every tool's range. */
export const maxSandboxUid = 65533;

/**
 * Returns the unprivileged uid and gid of worker slot `slot` (`base + slot`
 * for both). Each slot runs one job at a time, and each worker on a host
 * claims its own `base` (see uid-blocks.ts), so concurrent jobs never share
 * a uid. The ids need no /etc/passwd entry on the host, but must not belong
 * to any real user there.
 */
export function sandboxUser(slot: number, base = 61000): SandboxUser {
  if (!Number.isSafeInteger(slot) || slot < 0) throw new RangeError(`invalid slot ${slot}: expected an integer of at least 0`);
  if (!Number.isSafeInteger(base) || base < 1000) throw new RangeError(`invalid uid base ${base}: expected an integer of at least 1000`);
  const id = base + slot;
  if (id > maxSandboxUid) throw new RangeError(`slot ${slot} with base ${base} gives uid ${id}, above ${maxSandboxUid}: lower the base or the slot count`);
  return { uid: id, gid: id };
}

/**
 * Hands a job folder that the worker filled as root (the cloned repository)
 * to the slot's user: changes the owner of every entry to `uid:gid` and sets
 * the folder's mode to 0700, so other slots cannot read it.
 *
 * Symbolic links are changed themselves and never followed, because a
 * repository can contain a link to any host file. Throws when an ancestor
 * folder does not let other users search it, since bubblewrap, running as
 * `uid`, could not then reach the folder to mount it.
 */
export async function prepareJobDir(jobDir: string, uid: number, gid: number): Promise<void> {
  const top = resolve(jobDir);
  checkAncestorsSearchable(top);
  await chownTree(top, uid, gid);
  chmodSync(top, 0o700);
}

/**
 * Writes a minimal passwd and group file into `folder` for the slot's user,
 * so programs that look the user up (`whoami`, Node's `os.userInfo()`)
 * work without the host's user list. `folder` must stay owned by root so the
 * job cannot change the files.
 */
export async function writeIdentityFiles(folder: string, uid: number, gid: number): Promise<IdentityFiles> {
  await mkdir(folder, { recursive: true, mode: 0o755 });
  const passwd = join(folder, 'passwd');
  const group = join(folder, 'group');
  // Files owned by users outside the job's user namespace show up as uid 65534.
  await replaceFile(passwd, `job:x:${uid}:${gid}:job:${sandboxJobDir}/home:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
  await replaceFile(group, `job:x:${gid}:\nnogroup:x:65534:\n`);
  return { passwd, group };
}

/**
 * Writes `path` through a new file renamed over it, so a job of another
 * worker process that shares the folder never mounts a half-written file.
 */
async function replaceFile(path: string, text: string): Promise<void> {
  const staged = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(staged, text, { mode: 0o644 });
    await rename(staged, path);
  } finally {
    await rm(staged, { force: true });
  }
}

/** Checks each ancestor with a synchronous stat: a handful of calls, which cost less than one await each. */
function checkAncestorsSearchable(path: string): void {
  for (let folder = dirname(path); ; folder = dirname(folder)) {
    const info = statSync(folder);
    if ((info.mode & 0o001) === 0) {
      throw new Error(`folder ${folder} is not searchable by other users (mode ${(info.mode & 0o777).toString(8)}): sandboxed jobs under it cannot start`);
    }
    if (folder === dirname(folder)) return;
  }
}
