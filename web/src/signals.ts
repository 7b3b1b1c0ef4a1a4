// Names of the signals a job's program commonly dies of. Nothing here imports the generated clients, so Node tests can load it.

const signalNames: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  14: 'SIGALRM',
  15: 'SIGTERM',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
};

/**
 * Returns the signal that an exit code of 128 + N stands for, as shells and
 * the job sandbox report a program that a signal ended, or undefined. A
 * program may also exit with such a code itself, so the page shows it as a
 * likely cause only.
 */
export function signalOfExitCode(exitCode: number | undefined): string | undefined {
  if (exitCode === undefined || exitCode <= 128) return undefined;
  return signalNames[exitCode - 128];
}
