import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A command that tests or the demo run, and the Debian package that provides it. */
export interface SystemRequirement {
  command: string;
  debianPackage: string;
}

/** Commands that the local stack and its sample jobs run: `npm start` and `npm run demo`. */
export const stackRequirements: SystemRequirement[] = [
  { command: 'nats-server', debianPackage: 'nats-server' },
  { command: 'git', debianPackage: 'git' },
  { command: 'gcc', debianPackage: 'gcc' },
  { command: 'g++', debianPackage: 'g++' },
  { command: 'python3', debianPackage: 'python3' },
  { command: 'bash', debianPackage: 'bash' },
  { command: 'bwrap', debianPackage: 'bubblewrap' },
  { command: 'openssl', debianPackage: 'openssl' },
];

export const testRequirements: SystemRequirement[] = [
  ...stackRequirements,
  // The browser test drives Debian's Chromium; the compose test validates compose.yaml.
  { command: 'chromium', debianPackage: 'chromium' },
  { command: 'docker-compose', debianPackage: 'docker-compose' },
];

// Debian installs nats-server into /usr/sbin, which the PATH of a non-root user often lacks.
const sbinFolders = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * Finds an executable in PATH like `command -v`, then in the sbin folders,
 * which `command -v` skips. Returns its absolute path, or undefined when none is found.
 */
export function findCommand(command: string, searchPath: string = process.env.PATH ?? ''): string | undefined {
  const folders = [...searchPath.split(delimiter).filter((folder) => folder !== ''), ...sbinFolders];
  for (const folder of folders) {
    const candidate = join(folder, command);
    if (isExecutableFile(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Runs `ensureSystemPackages` for a command-line script: a failure prints its message alone and exits with code 1. */
export function requireSystemPackages(requirements: SystemRequirement[], log: (line: string) => void): void {
  try {
    ensureSystemPackages(requirements, log);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}

/**
 * Installs the Debian packages of missing commands with apt-get when this
 * process runs as root on Debian, and throws otherwise. The error message
 * contains the `sudo apt-get install -y ...` command to run by hand.
 */
export function ensureSystemPackages(
  requirements: SystemRequirement[],
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): void {
  const missing = requirements.filter((requirement) => findCommand(requirement.command) === undefined);
  if (missing.length === 0) {
    return;
  }

  const packages = [...new Set(missing.map((requirement) => requirement.debianPackage))];
  const commands = missing.map((requirement) => requirement.command).join(', ');
  const installCommand = `sudo apt-get install -y ${packages.join(' ')}`;

  if (!canInstallWithApt()) {
    throw new Error(`Missing system commands: ${commands}. Install them with: ${installCommand}`);
  }

  log(`Missing system commands: ${commands}. Running apt-get install -y ${packages.join(' ')}`);
  if (!runAptGet(['install', '-y', ...packages])) {
    log('apt-get install failed; running apt-get update and retrying once');
    runAptGet(['update']);
    if (!runAptGet(['install', '-y', ...packages])) {
      throw new Error(`apt-get install failed for ${packages.join(' ')}. Run it by hand: ${installCommand}`);
    }
  }

  const stillMissing = missing.filter((requirement) => findCommand(requirement.command) === undefined);
  if (stillMissing.length > 0) {
    const names = stillMissing.map((requirement) => requirement.command).join(', ');
    throw new Error(`Commands still missing after apt-get install: ${names}. Check the packages: ${installCommand}`);
  }
}

function canInstallWithApt(): boolean {
  const isRoot = process.getuid?.() === 0;
  return isRoot && existsSync('/etc/debian_version') && findCommand('apt-get') !== undefined;
}

/** Runs apt-get with the terminal attached and returns whether it exited with 0. */
function runAptGet(args: string[]): boolean {
  const result = spawnSync('apt-get', args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}
