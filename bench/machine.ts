import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';
import { findCommand } from '../dev/system-packages.js';

const run = promisify(execFile);

/** The machine and software versions of one run, read when the run starts. */
export interface MachineDescription {
  cpuModel: string;
  /** Logical CPUs the operating system reports. */
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  natsServer: string;
  /** Filled in once the BullMQ baseline has found its Redis server. */
  redis?: string;
  bubblewrap: string;
  git: string;
  /** 1-minute load average when the run started; other work on a shared machine shows here. */
  loadAverageAtStart: number;
}

export async function describeMachine(): Promise<MachineDescription> {
  return {
    cpuModel: await cpuModel(),
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    natsServer: await toolVersion('nats-server', ['--version'], /v?(\d+\.\d+\.\d+)/),
    bubblewrap: await toolVersion('bwrap', ['--version'], /(\d+\.\d+\.\d+)/),
    git: await toolVersion('git', ['--version'], /(\d+\.\d+\.\d+)/),
    loadAverageAtStart: Math.round(loadavg()[0] * 100) / 100,
  };
}

async function cpuModel(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
  return model ?? cpus()[0]?.model ?? 'unknown';
}

/** Runs `command args` and returns the first match of `pattern` in its output, or "not installed". */
async function toolVersion(command: string, args: string[], pattern: RegExp): Promise<string> {
  const path = findCommand(command);
  if (!path) return 'not installed';
  try {
    const { stdout, stderr } = await run(path, args, { timeout: 5_000 });
    return pattern.exec(`${stdout}\n${stderr}`)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
