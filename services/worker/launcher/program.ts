/**
 * The process launcher: a small program that the worker starts once and
 * that starts the jobs' programs in its place. A fork copies the page
 * tables of the process that forks, and the child tears its copy down again
 * at exec. For a Node.js process of about 90 MiB, that costs about 1 ms of
 * CPU on each side per program started. This program's whole work for a
 * program, pipes, fork and report included, takes about 0.2 ms of CPU in the
 * end-to-end benchmark.
 *
 * It reads requests from stdin, each a 4-byte little-endian length and that
 * many bytes of NUL-terminated strings:
 *
 *   spawn ID FLAGS CWD FILE ARGC ARG... ENVC ENV...
 *   taken ID
 *
 * FLAGS is the sum of 1 (a pipe as the program's stdin, otherwise /dev/null)
 * and 2 (a pipe as its descriptor 3). For each request it writes one line to
 * stdout:
 *
 *   started ID PID STDOUT STDERR STATUS STDIN
 *   failed ID ERRNO
 *
 * and one more when a started program ends:
 *
 *   exited ID CODE SIGNAL
 *
 * with CODE -1 for a program killed by a signal and SIGNAL 0 for one that
 * exited. STDOUT, STDERR, STATUS and STDIN are the launcher's descriptors
 * for the worker's ends of the pipes (-1 when not asked for), which the
 * worker opens through /proc/PID/fd of the launcher and then releases with
 * `taken`. Until then the launcher also keeps the program's end of the stdin
 * pipe, so that the worker can open the other end even after the program
 * exited.
 *
 * Each program starts as the leader of a new session, with every signal at
 * its default and unblocked, the environment it was given, and PATH looked up
 * in that environment, as Node.js starts a detached child. The launcher dies
 * with the worker (PR_SET_PDEATHSIG) and exits at the end of its stdin, and
 * a sandbox it started dies with it (bubblewrap's --die-with-parent).
 */
export const launcherSource = String.raw`
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_FRAME (8u << 20)

struct child {
  unsigned long id;
  pid_t pid;
  int taken;
  int fds[5];
};

static struct child *children;
static size_t child_count, child_capacity;

static void die(const char *what) {
  fprintf(stderr, "launcher: %s: %s\n", what, strerror(errno));
  exit(125);
}

static void reply(const char *line) {
  size_t left = strlen(line);
  while (left > 0) {
    ssize_t written = write(1, line, left);
    if (written < 0 && errno == EINTR) continue;
    // The worker is gone.
    if (written <= 0) exit(0);
    line += written;
    left -= (size_t)written;
  }
}

static void close_fds(int *fds, int count) {
  for (int index = 0; index < count; index++) {
    if (fds[index] >= 0) close(fds[index]);
    fds[index] = -1;
  }
}

static struct child *add_child(void) {
  if (child_count == child_capacity) {
    child_capacity = child_capacity ? child_capacity * 2 : 16;
    children = realloc(children, child_capacity * sizeof *children);
    if (!children) die("allocating the table of programs");
  }
  return &children[child_count++];
}

static void drop_child(struct child *entry) {
  close_fds(entry->fds, 5);
  *entry = children[--child_count];
}

static void child_failed(int report) {
  int error = errno;
  ssize_t ignored = write(report, &error, sizeof error);
  (void)ignored;
  _exit(127);
}

/* In the forked child: descriptors, session, signals, then exec. Never returns. */
static void start_program(int report, int *sources, int count, const char *cwd, const char *file, char **argv, char **envp) {
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (setsid() < 0) child_failed(report);
  // Above 0 to 3 first, so that no dup2 below replaces a descriptor still to be moved.
  report = fcntl(report, F_DUPFD_CLOEXEC, 10);
  if (report < 0) _exit(127);
  for (int index = 0; index < count; index++) {
    sources[index] = fcntl(sources[index], F_DUPFD_CLOEXEC, 10);
    if (sources[index] < 0) child_failed(report);
  }
  for (int index = 0; index < count; index++) {
    if (dup2(sources[index], index) < 0) child_failed(report);
  }
  if (chdir(cwd) != 0) child_failed(report);
  environ = envp;
  execvp(file, argv);
  child_failed(report);
}

static void spawn_program(unsigned long id, unsigned long flags, const char *cwd, const char *file, char **argv, char **envp) {
  char line[160];
  // The pipes of stdout, stderr, the status and stdin, and one that reports a failed exec.
  int out[2] = { -1, -1 }, err[2] = { -1, -1 }, status[2] = { -1, -1 }, in[2] = { -1, -1 }, report[2] = { -1, -1 };
  int ok = pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0 && pipe2(report, O_CLOEXEC) == 0;
  if (ok && (flags & 2)) ok = pipe2(status, O_CLOEXEC) == 0;
  if (ok && (flags & 1)) ok = pipe2(in, O_CLOEXEC) == 0;
  int input = -1;
  if (ok && !(flags & 1)) ok = (input = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;
  pid_t pid = ok ? fork() : -1;
  if (pid == 0) {
    int sources[4] = { (flags & 1) ? in[0] : input, out[1], err[1], status[1] };
    start_program(report[1], sources, (flags & 2) ? 4 : 3, cwd, file, argv, envp);
  }
  int error = errno;
  int child_ends[4] = { out[1], err[1], status[1], report[1] };
  close_fds(child_ends, 4);
  if (input >= 0) close(input);
  if (pid < 0) {
    int ends[5] = { out[0], err[0], status[0], in[1], in[0] };
    close_fds(ends, 5);
    close(report[0]);
    snprintf(line, sizeof line, "failed %lu %d\n", id, error);
    reply(line);
    return;
  }
  int start_error = 0;
  ssize_t got;
  do got = read(report[0], &start_error, sizeof start_error); while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got == (ssize_t)sizeof start_error) {
    waitpid(pid, NULL, 0);
    int ends[5] = { out[0], err[0], status[0], in[1], in[0] };
    close_fds(ends, 5);
    snprintf(line, sizeof line, "failed %lu %d\n", id, start_error);
    reply(line);
    return;
  }
  struct child *entry = add_child();
  entry->id = id;
  entry->pid = pid;
  entry->taken = 0;
  int fds[5] = { out[0], err[0], status[0], in[1], in[0] };
  memcpy(entry->fds, fds, sizeof fds);
  snprintf(line, sizeof line, "started %lu %ld %d %d %d %d\n", id, (long)pid, out[0], err[0], status[0], in[1]);
  reply(line);
}

static void take(unsigned long id) {
  for (size_t index = 0; index < child_count; index++) {
    struct child *entry = &children[index];
    if (entry->id != id || entry->taken) continue;
    close_fds(entry->fds, 5);
    entry->taken = 1;
    if (entry->pid == 0) drop_child(entry);
    return;
  }
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (size_t index = 0; index < child_count; index++) {
      struct child *entry = &children[index];
      if (entry->pid != pid) continue;
      char line[96];
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      snprintf(line, sizeof line, "exited %lu %d %d\n", entry->id, code, sig);
      reply(line);
      entry->pid = 0;
      if (entry->taken) drop_child(entry);
      break;
    }
  }
}

/* Returns the next NUL-terminated string of the frame, or NULL when the frame has none left. */
static char *next_string(char **cursor, char *end) {
  char *start = *cursor;
  if (start >= end) return NULL;
  char *nul = memchr(start, '\0', (size_t)(end - start));
  if (!nul) return NULL;
  *cursor = nul + 1;
  return start;
}

static unsigned long next_number(char **cursor, char *end) {
  char *text = next_string(cursor, end);
  if (!text || !*text) {
    fprintf(stderr, "launcher: malformed request: a number is missing\n");
    exit(125);
  }
  char *stop;
  unsigned long value = strtoul(text, &stop, 10);
  if (*stop) {
    fprintf(stderr, "launcher: malformed request: \"%s\" is not a number\n", text);
    exit(125);
  }
  return value;
}

static char **next_list(char **cursor, char *end) {
  unsigned long count = next_number(cursor, end);
  if (count > MAX_FRAME) {
    fprintf(stderr, "launcher: malformed request: a list of %lu strings\n", count);
    exit(125);
  }
  char **list = calloc(count + 1, sizeof *list);
  if (!list) die("allocating a request");
  for (unsigned long index = 0; index < count; index++) {
    list[index] = next_string(cursor, end);
    if (!list[index]) {
      fprintf(stderr, "launcher: malformed request: %lu strings expected, fewer given\n", count);
      exit(125);
    }
  }
  return list;
}

static void handle(char *frame, uint32_t length) {
  char *cursor = frame, *end = frame + length;
  char *verb = next_string(&cursor, end);
  if (verb && strcmp(verb, "taken") == 0) {
    take(next_number(&cursor, end));
    return;
  }
  if (!verb || strcmp(verb, "spawn") != 0) {
    fprintf(stderr, "launcher: malformed request: expected spawn or taken\n");
    exit(125);
  }
  unsigned long id = next_number(&cursor, end);
  unsigned long flags = next_number(&cursor, end);
  char *cwd = next_string(&cursor, end);
  char *file = next_string(&cursor, end);
  if (!cwd || !file) {
    fprintf(stderr, "launcher: malformed request: the folder or the program is missing\n");
    exit(125);
  }
  char **argv = next_list(&cursor, end);
  char **envp = next_list(&cursor, end);
  spawn_program(id, flags, cwd, file, argv, envp);
  free(argv);
  free(envp);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "launcher: usage: faas-launch WORKER_PID\n");
    return 125;
  }
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die("asking to die with the worker");
  // The worker died before the line above took effect.
  if (getppid() != (pid_t)strtol(argv[1], NULL, 10)) return 0;
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) die("blocking SIGCHLD");
  for (int fd = 0; fd <= 2; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  // Descriptors that the worker inherited without close-on-exec do not reach the programs.
  if (syscall(SYS_close_range, 3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 1024; fd++) close(fd);
  }
  int signals = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signals < 0) die("opening a signalfd");

  size_t capacity = 1 << 16, used = 0;
  char *buffer = malloc(capacity);
  if (!buffer) die("allocating the request buffer");
  struct pollfd polls[2] = { { 0, POLLIN, 0 }, { signals, POLLIN, 0 } };
  for (;;) {
    if (poll(polls, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (polls[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(signals, &info, sizeof info) == (ssize_t)sizeof info) {
      }
      reap();
    }
    if (!(polls[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (used == capacity) {
      capacity *= 2;
      buffer = realloc(buffer, capacity);
      if (!buffer) die("allocating the request buffer");
    }
    ssize_t got = read(0, buffer + used, capacity - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) die("reading requests");
    // The worker closed the pipe or died: nothing more will come.
    if (got == 0) return 0;
    used += (size_t)got;
    size_t offset = 0;
    while (used - offset >= 4) {
      uint32_t length;
      memcpy(&length, buffer + offset, 4);
      length = le32toh(length);
      if (length > MAX_FRAME) {
        fprintf(stderr, "launcher: malformed request: %u bytes\n", length);
        return 125;
      }
      if (used - offset - 4 < length) {
        if (capacity < (size_t)length + 4) {
          capacity = (size_t)length + 4;
          char *bigger = malloc(capacity);
          if (!bigger) die("allocating the request buffer");
          memcpy(bigger, buffer + offset, used - offset);
          free(buffer);
          buffer = bigger;
          used -= offset;
          offset = 0;
        }
        break;
      }
      handle(buffer + offset + 4, length);
      offset += 4 + (size_t)length;
      // A program that ended while this request was handled is reported before the next.
      reap();
    }
    memmove(buffer, buffer + offset, used - offset);
    used -= offset;
  }
}
`;
