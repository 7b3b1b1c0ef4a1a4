import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

/** Path of the init inside the sandbox. */
export const sandboxInitPath = '/run/faas-init';

/**
 * The sandbox's first process (bubblewrap --as-pid-1). bubblewrap's own
 * init reports a program killed by signal N as exit code 128 + N, like a
 * shell, so a job that crashed looked the same as one that exited with that
 * code. This one starts the program as its child, reaps the orphans of the
 * pid namespace, and writes one line to descriptor 3: "exit N", "signal N"
 * or "start-error ERRNO" when the program could not be started. The program
 * does not inherit descriptor 3. Its own exit status is the program's, with
 * 128 + N for a signal, because an init cannot die of a signal it sends
 * itself.
 */
export const initSource = String.raw`
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *line) {
  size_t left = strlen(line);
  while (left > 0) {
    ssize_t written = write(3, line, left);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    line += written;
    left -= (size_t)written;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return 125;
  int failure[2];
  if (pipe2(failure, O_CLOEXEC) != 0) return 125;
  pid_t child = fork();
  if (child < 0) return 125;
  if (child == 0) {
    close(3);
    close(failure[0]);
    execvp(argv[1], argv + 1);
    int error = errno;
    ssize_t ignored = write(failure[1], &error, sizeof error);
    (void)ignored;
    _exit(127);
  }
  close(failure[1]);
  int error = 0;
  ssize_t got;
  do got = read(failure[0], &error, sizeof error); while (got < 0 && errno == EINTR);
  close(failure[0]);

  int status = 0;
  for (;;) {
    pid_t ended = wait(&status);
    if (ended == child) break;
    if (ended < 0 && errno != EINTR) return 125;
  }
  char line[64];
  if (got == (ssize_t)sizeof error) {
    snprintf(line, sizeof line, "start-error %d\n", error);
    report(line);
    return 127;
  }
  if (WIFSIGNALED(status)) {
    snprintf(line, sizeof line, "signal %d\n", WTERMSIG(status));
    report(line);
    return 128 + WTERMSIG(status);
  }
  snprintf(line, sizeof line, "exit %d\n", WEXITSTATUS(status));
  report(line);
  return WEXITSTATUS(status);
}
`;

/** The end of the program as the init reported it: an exit code, a signal, or a failed start. */
export type InitStatus =
  | { kind: 'exit'; exitCode: number }
  | { kind: 'signal'; signal: NodeJS.Signals | string }
  | { kind: 'start-error'; error: NodeJS.ErrnoException };

/** Reads the init's report; undefined when it wrote none, as when it was killed with the job. */
export function parseInitStatus(text: string): InitStatus | undefined {
  const match = /^(exit|signal|start-error) (\d+)\n$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[2]);
  switch (match[1]) {
    case 'exit':
      return { kind: 'exit', exitCode: value };
    case 'signal':
      return { kind: 'signal', signal: signalName(value) };
    default: {
      // Names and texts as libuv has them, such as ENOENT and "no such file or directory".
      const [code, message] = getSystemErrorMap().get(-value) ?? [undefined, `error ${value}`];
      const error: NodeJS.ErrnoException = new Error(message);
      error.code = code;
      error.errno = value;
      return { kind: 'start-error', error };
    }
  }
}

function signalName(signal: number): string {
  const entry = Object.entries(constants.signals).find(([, number]) => number === signal);
  return entry?.[0] ?? `signal ${signal}`;
}
