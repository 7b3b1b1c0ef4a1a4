import { spawn } from 'node:child_process';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readWorkerConfig } from '../services/worker/config.js';
import { findToolchain } from '../services/worker/entrypoint.js';
import { buildSandboxCommand, buildSandboxPrograms, createJobCgroup, prepareJobDir, sandboxJobDir, sandboxUser, writeIdentityFiles, type IdentityFiles, type SandboxPrograms } from '../services/worker/sandbox/index.js';

/** Whether a command runs in the worker's sandbox or as a plain child process. */
export type Isolation = 'sandboxed' | 'none';

/** The trivial job of the end-to-end benchmark. */
export const trivialCommand = ['sh', '-c', 'true'];

interface Slot {
  uid: number;
  gid: number;
  jobDir: string;
  workDir: string;
  identityFiles: IdentityFiles;
  busy: boolean;
}

/**
 * Runs `sh -c true` with `child_process.spawn`, either bare or wrapped in the
 * sandbox the worker builds: a job cgroup with the worker's default limits,
 * then `buildSandboxCommand` (bubblewrap, started through the sandbox
 * programs when gcc can build them, as on a worker). Each of `slots`
 * slots has its own unprivileged uid and job folder, prepared once, like a
 * worker slot. Used by the bare-spawn baseline and by the BullMQ worker.
 */
export class TrivialCommandRunner {
  private runs = 0;
  private readonly limits = readWorkerConfig({}).limits.defaults;

  private constructor(
    private readonly root: string,
    private readonly slots: Slot[],
    private readonly programs: SandboxPrograms | undefined,
  ) {}

  /**
   * Prepares `slots` job folders under `root`, whose ancestors must be
   * searchable by other users. Slot N runs as uid `uidBase + N`.
   */
  static async create(root: string, slots: number, uidBase: number): Promise<TrivialCommandRunner> {
    await mkdir(root, { recursive: true, mode: 0o711 });
    await chmod(root, 0o711);
    const prepared: Slot[] = [];
    for (let slot = 0; slot < slots; slot++) {
      const { uid, gid } = sandboxUser(slot, uidBase);
      const jobDir = join(root, `slot-${slot}`);
      const workDir = join(jobDir, 'src');
      await mkdir(workDir, { recursive: true });
      await mkdir(join(jobDir, 'home'), { recursive: true });
      await prepareJobDir(jobDir, uid, gid);
      const identityFiles = await writeIdentityFiles(join(root, 'identity', `slot-${slot}`), uid, gid);
      prepared.push({ uid, gid, jobDir, workDir, identityFiles, busy: false });
    }
    const { gcc } = await findToolchain();
    const programs = gcc ? await buildSandboxPrograms(join(root, 'sandbox-programs'), gcc) : undefined;
    return new TrivialCommandRunner(root, prepared, programs);
  }

  /** Runs the trivial command once in a free slot; throws when it fails or no slot is free. */
  async run(isolation: Isolation): Promise<void> {
    const slot = this.slots.find((candidate) => !candidate.busy);
    if (!slot) throw new Error(`all ${this.slots.length} slots are busy: run at most that many commands at once`);
    slot.busy = true;
    try {
      if (isolation === 'none') await spawnAndWait(trivialCommand[0], trivialCommand.slice(1), process.env);
      else await this.runSandboxed(slot);
    } finally {
      slot.busy = false;
    }
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  private async runSandboxed(slot: Slot): Promise<void> {
    this.runs++;
    const cgroup = await createJobCgroup(`bench-${process.pid}-${this.runs}`, {
      memoryBytes: this.limits.memoryBytes,
      pids: this.limits.pids,
      cpuPercent: this.limits.cpuPercent,
    });
    try {
      const command = buildSandboxCommand({
        uid: slot.uid,
        gid: slot.gid,
        jobDir: slot.jobDir,
        workDir: slot.workDir,
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: `${sandboxJobDir}/home`, TMPDIR: '/tmp', LANG: 'C.UTF-8' },
        network: false,
        rlimits: { fileSizeBytes: this.limits.fileSizeBytes, openFiles: this.limits.openFiles },
        procsFiles: cgroup.procsFiles,
        argv: trivialCommand,
        identityFiles: slot.identityFiles,
        init: this.programs?.init,
        enter: this.programs?.enter,
      });
      await spawnAndWait(command.file, command.args, command.env);
    } finally {
      await cgroup.killAll();
      await cgroup.remove();
    }
  }
}

/** Spawns a program with no stdin or stdout and resolves when it exits 0; rejects with its stderr otherwise. */
function spawnAndWait(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2_000);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${file} exited with ${signal ?? `code ${code}`}: ${stderr.trim() || 'no stderr'}`));
    });
  });
}
